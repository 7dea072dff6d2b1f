//! Registration, profile and search, end to end.

use crate::helpers::{events_mentioning, unique, unique_phone, Api, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn a_new_user_registers_logs_in_at_once_and_reads_and_updates_their_profile() {
    let api = Api::new();
    let name = unique("ada");
    let registered = api
        .post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "nickname": "Ada", "email": format!("{name}@Example.org") }))
        .await
        .expect(200);
    let user_id = registered.data()["user_id"].as_str().unwrap().to_owned();

    // Read-your-writes: the login right after registering must find the account.
    let login = api.login(&name).await;
    assert_eq!(login["user_id"], user_id.as_str());
    assert_eq!(login["token_type"], "Bearer");
    assert!(login["expires_in"].as_i64().unwrap() > 0);
    let token = login["access_token"].as_str().unwrap();

    let me = api.get("/api/user/profile", Some(token)).await.expect(200);
    assert_eq!(me.data()["username"], name.as_str());
    assert_eq!(me.data()["nickname"], "Ada");
    assert_eq!(me.data()["email"], format!("{name}@example.org"), "email is stored lower-cased");
    assert_eq!(me.data()["gender"], "unspecified");

    api.put("/api/user/profile", Some(token), json!({ "nickname": "Countess", "signature": "Notes on the engine", "gender": "female", "avatar": "https://img.example/ada.png" }))
        .await
        .expect(200);
    // ... and reading right after the update sees it.
    let me = api.get("/api/user/profile", Some(token)).await.expect(200);
    assert_eq!(me.data()["nickname"], "Countess");
    assert_eq!(me.data()["signature"], "Notes on the engine");
    assert_eq!(me.data()["gender"], "female");
    assert_eq!(me.data()["avatar"], "https://img.example/ada.png");
}

#[tokio::test]
async fn login_also_accepts_the_email_address() {
    let api = Api::new();
    let name = unique("mail");
    api.post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "email": format!("{name}@example.org") })).await.expect(200);
    let a = api.post("/api/user/login", None, json!({ "username": format!("{name}@EXAMPLE.org"), "password": PASSWORD })).await.expect(200);
    assert!(a.data()["access_token"].is_string());
}

#[tokio::test]
async fn another_users_profile_shows_only_public_fields() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("viewer")).await;
    let other = unique("other");
    let other_id = api.post("/api/user/register", None, json!({ "username": other, "password": PASSWORD, "phone": unique_phone() }))
        .await
        .expect(200)
        .data()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen = api.get(&format!("/api/user/profile?user_id={other_id}"), Some(&token)).await.expect(200);
    assert_eq!(seen.data()["username"], other.as_str());
    assert!(seen.data().get("phone").is_none(), "phone is private: {}", seen.body);
    assert!(seen.data().get("email").is_none(), "email is private: {}", seen.body);
}

#[tokio::test]
async fn an_unknown_user_id_is_not_found() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("seeker")).await;
    let a = api.get(&format!("/api/user/profile?user_id={}", uuid::Uuid::now_v7()), Some(&token)).await.expect(404);
    assert_eq!(a.error_kind(), "not_found");
}

#[tokio::test]
async fn search_finds_users_by_username_prefix_and_by_nickname() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("searcher")).await;
    let stem = unique("zq");
    let a = format!("{stem}_one");
    api.post("/api/user/register", None, json!({ "username": a, "password": PASSWORD, "nickname": format!("Nick {stem}") })).await.expect(200);

    let by_prefix = api.get(&format!("/api/user/search?q={stem}"), Some(&token)).await.expect(200);
    let names: Vec<&str> = by_prefix.data()["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, vec![a.as_str()]);
    assert!(by_prefix.data()["users"][0].get("email").is_none());

    let by_nick = api.get(&format!("/api/user/search?q=Nick%20{stem}"), Some(&token)).await.expect(200);
    assert_eq!(by_nick.data()["users"].as_array().unwrap().len(), 1);

    let wildcard = api.get("/api/user/search?q=%25", Some(&token)).await.expect(200);
    assert!(wildcard.data()["users"].as_array().unwrap().is_empty(), "% is matched literally");
}

#[tokio::test]
async fn of_twenty_simultaneous_registrations_of_one_username_exactly_one_succeeds() {
    let api = Api::new();
    let name = unique("race");
    let attempts = (0..20).map(|i| {
        let api = api.clone();
        let name = name.clone();
        tokio::spawn(async move {
            api.post("/api/user/register", None, json!({ "username": name, "password": format!("{PASSWORD}{i}") })).await
        })
    });
    let answers = futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = answers.into_iter().map(|a| a.unwrap().status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");

    // The log holds exactly one registration of the name: the losers appended nothing.
    let registered: Vec<_> = events_mentioning(&name)
        .await
        .into_iter()
        .filter(|e| e["event_type"] == "UserRegistered" && e["payload"]["username"] == name.as_str())
        .collect();
    assert_eq!(registered.len(), 1, "{registered:#?}");
}

#[tokio::test]
async fn a_taken_username_email_or_phone_is_refused_with_409() {
    let api = Api::new();
    let name = unique("first");
    let email = format!("{name}@example.org");
    let phone = unique_phone();
    api.post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "email": email, "phone": phone })).await.expect(200);

    let same_name = api.post("/api/user/register", None, json!({ "username": name.to_uppercase(), "password": PASSWORD })).await.expect(409);
    assert_eq!(same_name.error_kind(), "username_taken");
    let same_email = api.post("/api/user/register", None, json!({ "username": unique("second"), "password": PASSWORD, "email": email.to_uppercase() })).await.expect(409);
    assert_eq!(same_email.error_kind(), "email_taken");
    let same_phone = api.post("/api/user/register", None, json!({ "username": unique("third"), "password": PASSWORD, "phone": phone })).await.expect(409);
    assert_eq!(same_phone.error_kind(), "phone_taken");
}

#[tokio::test]
async fn a_refused_registration_frees_nothing_and_claims_nothing() {
    // The second name in a refused registration (email taken) must stay free.
    let api = Api::new();
    let owner = unique("owner");
    let email = format!("{owner}@example.org");
    api.post("/api/user/register", None, json!({ "username": owner, "password": PASSWORD, "email": email })).await.expect(200);
    let hopeful = unique("hopeful");
    api.post("/api/user/register", None, json!({ "username": hopeful, "password": PASSWORD, "email": email })).await.expect(409);
    api.post("/api/user/register", None, json!({ "username": hopeful, "password": PASSWORD })).await.expect(200);
}
