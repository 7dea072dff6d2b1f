//! Sessions: login, refresh-token rotation and reuse, verify, logout, and the
//! token endpoint (`POST /api/auth/token`, password and refresh grants).

use crate::helpers::{assert_token_pair, unique, Answer, Api, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn refresh_rotates_the_token_pair() {
    let api = Api::new();
    let name = unique("rot");
    let (user_id, _, refresh) = api.signed_up(&name).await;
    let next = api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(200);
    let new_refresh = next.data()["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);
    assert_eq!(next.data()["user_id"], user_id.as_str());
    let access = next.data()["access_token"].as_str().unwrap();
    api.get("/api/user/profile", Some(access)).await.expect(200);
    // The new refresh token works in turn.
    api.post("/api/auth/refresh", None, json!({ "refresh_token": new_refresh })).await.expect(200);
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_session() {
    let api = Api::new();
    let (_, _, first) = api.signed_up(&unique("reuse")).await;
    let rotated = api.post("/api/auth/refresh", None, json!({ "refresh_token": first })).await.expect(200);
    let access = rotated.data()["access_token"].as_str().unwrap().to_owned();
    let second = rotated.data()["refresh_token"].as_str().unwrap().to_owned();

    let reuse = api.post("/api/auth/refresh", None, json!({ "refresh_token": first })).await.expect(401);
    assert!(reuse.body["message"].as_str().unwrap().contains("revoked"), "{}", reuse.body);
    // Everything the session issued is dead now, including the newest tokens.
    api.post("/api/auth/refresh", None, json!({ "refresh_token": second })).await.expect(401);
    api.get("/api/user/profile", Some(&access)).await.expect(401);
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_do_not_both_succeed() {
    let api = Api::new();
    let (_, _, refresh) = api.signed_up(&unique("twin")).await;
    let (a, b) = tokio::join!(
        api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })),
        api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })),
    );
    let ok = [a.status.as_u16(), b.status.as_u16()].iter().filter(|s| **s == 200).count();
    assert!(ok <= 1, "a refresh token was spent twice: {} / {}", a.body, b.body);
}

#[tokio::test]
async fn logout_stops_that_sessions_access_token_but_not_other_sessions() {
    let api = Api::new();
    let name = unique("bye");
    let (_, phone_token, phone_refresh) = api.signed_up(&name).await;
    let laptop = api.login(&name).await;
    let laptop_token = laptop["access_token"].as_str().unwrap();

    api.post("/api/auth/logout", Some(&phone_token), json!({})).await.expect(200);
    api.get("/api/user/profile", Some(&phone_token)).await.expect(401);
    api.post("/api/auth/refresh", None, json!({ "refresh_token": phone_refresh })).await.expect(401);
    api.post("/api/auth/logout", Some(&phone_token), json!({})).await.expect(401);
    api.get("/api/user/profile", Some(laptop_token)).await.expect(200);
}

#[tokio::test]
async fn verify_accepts_a_live_token_and_refuses_forged_or_ended_ones() {
    let api = Api::new();
    let (user_id, token, _) = api.signed_up(&unique("verify")).await;
    let ok = api.post("/api/auth/verify", None, json!({ "token": token })).await.expect(200);
    assert_eq!(ok.data()["valid"], true);
    assert_eq!(ok.data()["user_id"], user_id.as_str());
    // A bearer header works as well as the body.
    api.post("/api/auth/verify", Some(&token), json!({})).await.expect(200);

    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    api.post("/api/auth/verify", None, json!({ "token": forged })).await.expect(401);

    api.post("/api/auth/logout", Some(&token), json!({})).await.expect(200);
    api.post("/api/auth/verify", None, json!({ "token": token })).await.expect(401);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let api = Api::new();
    let name = unique("secret");
    api.register(&name).await;
    let wrong = api.post("/api/user/login", None, json!({ "username": name, "password": "not the password" })).await.expect(401);
    let unknown = api.post("/api/user/login", None, json!({ "username": unique("nobody"), "password": PASSWORD })).await.expect(401);
    assert_eq!(wrong.body["message"], unknown.body["message"]);
    assert_eq!(wrong.error_kind(), unknown.error_kind());
}

#[tokio::test]
async fn repeated_login_failures_are_rate_limited_per_name() {
    let api = Api::new();
    let name = unique("brute");
    api.register(&name).await;
    for _ in 0..10 {
        api.post("/api/user/login", None, json!({ "username": name, "password": "guess-guess" })).await.expect(401);
    }
    let limited = api.post("/api/user/login", None, json!({ "username": name, "password": PASSWORD })).await.expect(429);
    assert!(limited.data()["retry_after"].as_u64().unwrap() > 0);
    // Other names are not affected.
    let other = unique("calm");
    api.register(&other).await;
    api.login(&other).await;
}

// ---------------------------------------------------------------------------
// `POST /api/auth/token`: the OAuth 2 style token endpoint, on the login and
// refresh code paths.

/// A form-encoded `POST /api/auth/token`.
async fn token_form(api: &Api, fields: &[(&str, &str)]) -> Answer {
    api.send(api.raw(Method::POST, "/api/auth/token").form(fields)).await
}


#[tokio::test]
async fn the_password_grant_issues_a_token_pair_as_json_and_as_a_form() {
    let api = Api::new();
    let name = unique("grant");
    let user_id = api.register(&name).await;
    let json_grant =
        api.post("/api/auth/token", None, json!({ "grant_type": "password", "username": name, "password": PASSWORD })).await.expect(200);
    assert_token_pair(&json_grant, &user_id);
    let form_grant = token_form(&api, &[("grant_type", "password"), ("username", &name), ("password", PASSWORD)]).await.expect(200);
    assert_token_pair(&form_grant, &user_id);
    assert_ne!(json_grant.data()["session_id"], form_grant.data()["session_id"], "each grant starts its own session");
    for grant in [&json_grant, &form_grant] {
        let me = api.get("/api/user/profile", grant.data()["access_token"].as_str()).await.expect(200);
        assert_eq!(me.data()["user_id"], user_id.as_str());
    }
}

#[tokio::test]
async fn the_refresh_grant_rotates_like_refresh_and_a_reused_token_revokes_the_session() {
    let api = Api::new();
    let (user_id, _, first) = api.signed_up(&unique("rgrant")).await;
    let rotated = token_form(&api, &[("grant_type", "refresh_token"), ("refresh_token", &first)]).await.expect(200);
    assert_token_pair(&rotated, &user_id);
    let second = rotated.data()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = rotated.data()["access_token"].as_str().unwrap().to_owned();
    api.get("/api/user/profile", Some(&access)).await.expect(200);

    // The two paths share one spent-token record: the token rotated here is
    // spent for /api/auth/refresh too, and presenting it again ends the session.
    let reuse = api.post("/api/auth/refresh", None, json!({ "refresh_token": first })).await.expect(401);
    assert!(reuse.body["message"].as_str().unwrap().contains("revoked"), "{}", reuse.body);
    api.post("/api/auth/token", None, json!({ "grant_type": "refresh_token", "refresh_token": second })).await.expect(401);
    api.get("/api/user/profile", Some(&access)).await.expect(401);
}

#[tokio::test]
async fn a_refresh_token_spent_at_refresh_is_reuse_at_the_token_endpoint() {
    let api = Api::new();
    let (_, _, first) = api.signed_up(&unique("rgrant2")).await;
    let rotated = api.post("/api/auth/refresh", None, json!({ "refresh_token": first })).await.expect(200);
    let access = rotated.data()["access_token"].as_str().unwrap().to_owned();
    let reuse = api.post("/api/auth/token", None, json!({ "grant_type": "refresh_token", "refresh_token": first })).await.expect(401);
    assert!(reuse.body["message"].as_str().unwrap().contains("revoked"), "{}", reuse.body);
    api.get("/api/user/profile", Some(&access)).await.expect(401);
}

#[tokio::test]
async fn an_unknown_or_missing_grant_type_is_400_unsupported_grant_type() {
    let api = Api::new();
    let name = unique("nogrant");
    api.register(&name).await;
    let answers = [
        api.post("/api/auth/token", None, json!({ "grant_type": "client_credentials" })).await,
        api.post("/api/auth/token", None, json!({ "username": name, "password": PASSWORD })).await,
        token_form(&api, &[("grant_type", "implicit"), ("username", &name), ("password", PASSWORD)]).await,
        token_form(&api, &[("username", &name), ("password", PASSWORD)]).await,
    ];
    for a in answers {
        let a = a.expect(400);
        assert_eq!(a.error_kind(), "unsupported_grant_type", "{}", a.body);
    }
}

#[tokio::test]
async fn a_wrong_password_at_the_token_endpoint_gets_the_same_401_as_login() {
    let api = Api::new();
    let name = unique("tokpw");
    api.register(&name).await;
    let login = api.post("/api/user/login", None, json!({ "username": name, "password": "not the password" })).await.expect(401);
    let answers = [
        api.post("/api/auth/token", None, json!({ "grant_type": "password", "username": name, "password": "not the password" })).await,
        token_form(&api, &[("grant_type", "password"), ("username", &name), ("password", "not the password")]).await,
        token_form(&api, &[("grant_type", "password"), ("username", &unique("nobody")), ("password", PASSWORD)]).await,
    ];
    for a in answers {
        let a = a.expect(401);
        assert_eq!(a.body["message"], login.body["message"]);
        assert_eq!(a.error_kind(), login.error_kind());
    }
}

#[tokio::test]
async fn failures_at_login_and_at_the_token_endpoint_count_toward_one_rate_limit() {
    let api = Api::new();
    let name = unique("tokbrute");
    api.register(&name).await;
    for i in 0..10 {
        if i % 2 == 0 {
            api.post("/api/user/login", None, json!({ "username": name, "password": "guess-guess" })).await.expect(401);
        } else {
            token_form(&api, &[("grant_type", "password"), ("username", &name), ("password", "guess-guess")]).await.expect(401);
        }
    }
    let limited = token_form(&api, &[("grant_type", "password"), ("username", &name), ("password", PASSWORD)]).await.expect(429);
    assert!(limited.data()["retry_after"].as_u64().unwrap() > 0);
    api.post("/api/user/login", None, json!({ "username": name, "password": PASSWORD })).await.expect(429);
}
