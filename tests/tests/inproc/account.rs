//! Accounts and sessions through the in-process stack.

use beaver_tests::stack::{unique, TestStack, PASSWORD};
use serde_json::json;
use std::sync::Arc;

pub async fn registering_then_logging_in_then_updating_the_profile_reads_each_write_back(stack: Arc<TestStack>) {
    let api = stack.api();
    let name = unique("ada");
    // 200, not 202: commands waited until the users projector applied the event.
    let registered = api.post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "email": format!("{name}@example.org") })).await.expect(200);
    let id = registered.data()["user_id"].as_str().unwrap().to_owned();
    let login = api.post("/api/user/login", None, json!({ "username": name, "password": PASSWORD })).await.expect(200);
    assert_eq!(login.data()["user_id"], id.as_str(), "{}", login.body);
    let token = login.data()["access_token"].as_str().unwrap().to_owned();

    let profile = api.get("/api/user/profile", Some(&token)).await.expect(200);
    assert_eq!(profile.data()["username"], name.as_str(), "{}", profile.body);
    assert_eq!(profile.data()["email"], format!("{name}@example.org").as_str(), "{}", profile.body);

    api.put("/api/user/profile", Some(&token), json!({ "nickname": "Countess", "signature": "Notes on the engine" })).await.expect(200);
    // Read-your-writes: the very next read sees the change.
    let profile = api.get("/api/user/profile", Some(&token)).await.expect(200);
    assert_eq!(profile.data()["nickname"], "Countess", "{}", profile.body);
    assert_eq!(profile.data()["signature"], "Notes on the engine", "{}", profile.body);

    // Taken within this stack: a second registration of the name is refused.
    let again = api.post("/api/user/register", None, json!({ "username": name, "password": PASSWORD })).await.expect(409);
    assert_eq!(again.error_kind(), "username_taken", "{}", again.body);
}

pub async fn a_wrong_password_is_refused_and_a_logged_out_token_stops_working(stack: Arc<TestStack>) {
    let api = stack.api();
    let name = unique("grace");
    let (_, token) = api.signed_up(&name).await;
    let wrong = api.post("/api/user/login", None, json!({ "username": name, "password": "not the password" })).await.expect(401);
    assert_eq!(wrong.error_kind(), "unauthorized", "{}", wrong.body);

    api.get("/api/user/profile", Some(&token)).await.expect(200);
    api.post("/api/auth/logout", Some(&token), json!({})).await.expect(200);
    // The sessions projector wrote the revocation (under the stack's key prefix) before logout answered.
    api.get("/api/user/profile", Some(&token)).await.expect(401);
    api.post("/api/auth/verify", None, json!({ "token": token })).await.expect(401);
}
