//! Tokens the tiers must refuse although their signature may be good: signed
//! with the development secret from the source, naming a session that never
//! existed, or living longer than an access token may. Each is tried on
//! every surface that accepts tokens: a query, a command, `/api/auth/verify`
//! and the WebSocket upgrade.

use crate::helpers::{gateway, unique, Api};
use beaver_platform::auth::{Claims, DEV_JWT_SECRET};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use uuid::Uuid;

/// The secret the running stack signs with (deploy/up's per-installation file).
fn stack_secret() -> String {
    match std::env::var("BEAVER_JWT_SECRET_FILE") {
        Ok(file) if !file.is_empty() => std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}")).trim().to_owned(),
        _ => std::env::var("BEAVER_JWT_SECRET").expect("BEAVER_JWT_SECRET_FILE or BEAVER_JWT_SECRET (run through deploy/test)"),
    }
}

fn mint(secret: &str, user: &str, session: &str, lifetime_secs: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims { sub: user.parse().unwrap(), sid: session.parse().unwrap(), iat: now, exp: now + lifetime_secs };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// The HTTP status of a WebSocket upgrade with `token` in the query (101 if it was accepted).
async fn ws_upgrade_status(token: &str) -> u16 {
    let url = format!("{}/ws?token={token}&device_id=sec-1&platform=web", gateway().replacen("http", "ws", 1));
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

/// Asserts `token` is refused with 401 in the envelope by a query, a command, verify and the WebSocket upgrade.
async fn refused_everywhere(api: &Api, token: &str, what: &str) {
    let q = api.get("/api/user/profile", Some(token)).await;
    assert_eq!(q.status, 401, "{what}: query accepted it: {}", q.body);
    q.expect(401);
    let c = api.put("/api/user/profile", Some(token), json!({ "signature": "forged" })).await;
    assert_eq!(c.status, 401, "{what}: command accepted it: {}", c.body);
    c.expect(401);
    api.post("/api/auth/verify", None, json!({ "token": token })).await.expect(401);
    assert_eq!(ws_upgrade_status(token).await, 401, "{what}: WebSocket upgrade");
}

#[tokio::test]
async fn a_token_signed_with_the_development_secret_is_refused_everywhere() {
    let api = Api::new();
    let name = unique("forged");
    api.register(&name).await;
    let login = api.login(&name).await;
    let (user, session) = (login["user_id"].as_str().unwrap(), login["session_id"].as_str().unwrap());
    // Even for a real user and a live session, and a short lifetime.
    refused_everywhere(&api, &mint(DEV_JWT_SECRET, user, session, 600), "dev-secret token").await;
}

#[tokio::test]
async fn a_token_for_a_session_that_never_existed_is_refused_everywhere() {
    let api = Api::new();
    let (user, _, _) = api.signed_up(&unique("nosess")).await;
    let token = mint(&stack_secret(), &user, &Uuid::new_v4().to_string(), 600);
    refused_everywhere(&api, &token, "token of a non-existent session").await;
}

#[tokio::test]
async fn a_token_for_another_users_session_is_refused() {
    let api = Api::new();
    let (victim, _, _) = api.signed_up(&unique("victim")).await;
    let name = unique("thief");
    api.register(&name).await;
    let own_session = api.login(&name).await["session_id"].as_str().unwrap().to_owned();
    refused_everywhere(&api, &mint(&stack_secret(), &victim, &own_session, 600), "own session, other user").await;
}

#[tokio::test]
async fn a_token_living_longer_than_an_access_token_may_is_refused_everywhere() {
    let api = Api::new();
    let name = unique("longlived");
    api.register(&name).await;
    let login = api.login(&name).await;
    let (user, session) = (login["user_id"].as_str().unwrap(), login["session_id"].as_str().unwrap());
    let secret = stack_secret();
    // The same token with a normal lifetime is accepted: what is refused below is only the lifetime.
    api.get("/api/user/profile", Some(&mint(&secret, user, session, 600))).await.expect(200);
    refused_everywhere(&api, &mint(&secret, user, session, 10 * 365 * 24 * 3600), "ten-year token").await;
}
