//! The sent-key filter's merge, which `beaver-admin projections rebuild
//! messages` runs at the swap (docs/chat.md, "Idempotent sends"): a shadow
//! rebuild's filter, on its own Redis database, is ORed into the live one,
//! so rows the shadow stored ahead of the live projector are covered once
//! its tables become the live ones. Against the real Redis server, on two
//! databases nothing else uses.

use beaver_readmodel::{keys, sent_filter, sent_filter::Check};
use redis::aio::ConnectionManager;
use uuid::Uuid;

async fn on_db(db: i64) -> ConnectionManager {
    let mut info = redis::IntoConnectionInfo::into_connection_info(crate::helpers::redis_url()).unwrap();
    info.redis.db = db;
    let mut conn = ConnectionManager::new(redis::Client::open(info).unwrap()).await.expect("connect Redis");
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    conn
}

async fn add(conn: &mut ConnectionManager, conversation: &str, sender: Uuid, client_msg_id: &str) {
    let mut pipe = redis::pipe();
    sent_filter::add(&mut pipe, conversation, sender, client_msg_id);
    let _: () = pipe.query_async(conn).await.unwrap();
}

#[tokio::test]
async fn merging_a_shadow_filter_adds_its_keys_and_keeps_the_live_marker_and_trust() {
    let (mut shadow, mut live) = (on_db(13).await, on_db(14).await);
    let sender = Uuid::now_v7();
    let conversation = format!("direct:{sender}:{}", Uuid::now_v7());

    // The live filter: trusted (marker, ready = this server), holding "live-1".
    let mut pipe = redis::pipe();
    sent_filter::mark(&mut pipe);
    let _: () = pipe.query_async(&mut live).await.unwrap();
    add(&mut live, &conversation, sender, "live-1").await;
    let run_id = sent_filter::run_id(&mut live).await.unwrap();
    let _: () = redis::cmd("SET").arg(keys::sent_filter_ready()).arg(&run_id).query_async(&mut live).await.unwrap();
    assert!(sent_filter::trusted(&mut live).await.unwrap());
    // The shadow stored a row the live projector had not: "ahead-1".
    add(&mut shadow, &conversation, sender, "ahead-1").await;
    assert_eq!(sent_filter::check(&mut live, &conversation, sender, "ahead-1").await.unwrap(), Check::Absent, "not in the live filter before the merge");

    assert!(sent_filter::merge(&mut shadow, &mut live).await.unwrap(), "the shadow has a filter to merge");

    for key in ["ahead-1", "live-1"] {
        assert_eq!(sent_filter::check(&mut live, &conversation, sender, key).await.unwrap(), Check::Maybe, "{key} after the merge");
    }
    assert_eq!(sent_filter::check(&mut live, &conversation, sender, "never-sent").await.unwrap(), Check::Absent);
    assert!(sent_filter::trusted(&mut live).await.unwrap(), "the marker and ready survive the merge");
    let scratch: bool = redis::cmd("EXISTS").arg(format!("{}:merge", keys::sent_filter_bits())).query_async(&mut live).await.unwrap();
    assert!(!scratch, "the merge's scratch key is deleted");

    // A shadow without a filter (no messages) merges nothing and changes nothing.
    let mut empty = on_db(13).await;
    assert!(!sent_filter::merge(&mut empty, &mut live).await.unwrap());
    assert_eq!(sent_filter::check(&mut live, &conversation, sender, "ahead-1").await.unwrap(), Check::Maybe);
    let _: () = redis::cmd("FLUSHDB").query_async(&mut live).await.unwrap();
}
