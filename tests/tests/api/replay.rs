//! A projector rebuilt from offset 0 into an empty database produces the
//! same rows as the live read model.

use crate::helpers::{database_url, eventually, unique, Api};
use serde_json::json;
use sqlx::{mysql::MySqlRow, Connection, MySqlConnection, Row};
use std::time::Duration;

async fn rows(db: &str, sql: &str, ids: &[String]) -> Vec<Vec<String>> {
    let mut conn = MySqlConnection::connect(db).await.unwrap();
    let mut out = Vec::new();
    for id in ids {
        if let Some(row) = sqlx::query(sql).bind(id).fetch_optional(&mut conn).await.unwrap() {
            out.push(stringify(&row));
        }
    }
    out
}

/// Every column as text, so rows compare exactly whatever their types.
fn stringify(row: &MySqlRow) -> Vec<String> {
    (0..row.len())
        .map(|i| {
            row.try_get::<Option<String>, _>(i)
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .or_else(|_| row.try_get::<i64, _>(i).map(|v| v.to_string()))
                .or_else(|_| row.try_get::<time::PrimitiveDateTime, _>(i).map(|v| v.to_string()))
                .unwrap_or_else(|e| panic!("column {i}: {e}"))
        })
        .collect()
}

#[tokio::test]
async fn replaying_the_topics_from_offset_zero_with_two_instances_rebuilds_identical_rows() {
    // Some history: registrations, a profile change, a refresh and a logout.
    let api = Api::new();
    let mut users = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..3 {
        let (id, token, refresh) = api.signed_up(&unique(&format!("replay{i}"))).await;
        let verified = api.post("/api/auth/verify", None, json!({ "token": token })).await.expect(200);
        sessions.push(verified.data()["session_id"].as_str().unwrap().to_owned());
        users.push(id);
        if i == 0 {
            api.put("/api/user/profile", Some(&token), json!({ "nickname": "Changed", "gender": "other" })).await.expect(200);
        }
        if i == 1 {
            api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(200);
        }
        if i == 2 {
            api.post("/api/auth/logout", Some(&token), json!({})).await.expect(200);
        }
    }
    const USERS_SQL: &str = "SELECT * FROM users WHERE user_id = ?";
    const SESSIONS_SQL: &str = "SELECT * FROM sessions WHERE session_id = ?";
    let live = database_url();
    let live_users = rows(&live, USERS_SQL, &users).await;
    let live_sessions = rows(&live, SESSIONS_SQL, &sessions).await;
    assert_eq!(live_users.len(), 3);
    assert_eq!(live_sessions.len(), 3);

    // A fresh database and consumer group: the projector starts at offset 0.
    let fresh_name = unique("beaver_replay");
    let mut admin = MySqlConnection::connect(&live).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {fresh_name}")).execute(&mut admin).await.unwrap();
    let fresh = format!("{}/{fresh_name}", live.rsplit_once('/').unwrap().0);
    beaver_projectors::migrate(&fresh).await.unwrap();
    let config = beaver_projectors::Config {
        database_url: fresh.clone(),
        group_prefix: format!("{}-", unique("replay")),
        kafka_brokers: crate::helpers::brokers(),
        redis_url: std::env::var("BEAVER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        ..Default::default()
    };
    // Two instances of one group, as an operator scales out: Kafka splits the
    // partitions between them, and a rebalance happens mid-replay.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut instances = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut stopped = stopped.clone();
        instances.push(tokio::spawn(beaver_projectors::run(config.clone(), listener, async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let rebuilt = eventually(Duration::from_secs(60), || async {
        let u = rows(&fresh, USERS_SQL, &users).await;
        let s = rows(&fresh, SESSIONS_SQL, &sessions).await;
        (u == live_users && s == live_sessions).then_some(())
    })
    .await;
    let (u, s) = (rows(&fresh, USERS_SQL, &users).await, rows(&fresh, SESSIONS_SQL, &sessions).await);
    stop.send(true).unwrap();
    for instance in instances {
        instance.await.unwrap().unwrap();
    }
    sqlx::query(&format!("DROP DATABASE {fresh_name}")).execute(&mut admin).await.unwrap();
    assert!(rebuilt.is_some(), "rebuild differs:\nlive users {live_users:?}\nrebuilt    {u:?}\nlive sessions {live_sessions:?}\nrebuilt       {s:?}");
}
