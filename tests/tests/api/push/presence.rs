//! Presence.

use super::*;

#[tokio::test]
async fn the_online_query_shows_a_connected_friends_platforms_and_offline_after_they_disconnect() {
    let api = Api::new();
    let ((ann, bob), never) = tokio::join!(friends_pair(&api, "wsonl"), new_user(&api, "wsonl"));
    let phone = dial(1, &bob, "ios").await;
    let web = dial(2, &bob, "web").await;
    wait_presence(&api, &ann.token, &bob.id, true, &["ios", "web"]).await;

    let both = online_query(&api, &ann.token, &[&bob.id, &never.id]).await.expect(200);
    let users = &both.data()["users"];
    assert_eq!(users.as_array().map(Vec::len), Some(2), "{}", both.body);
    let n = find(users, "user_id", &never.id).unwrap();
    assert_eq!(*n, json!({ "user_id": never.id, "online": false, "platforms": [] }), "a user never connected is offline");

    phone.close().await;
    wait_presence(&api, &ann.token, &bob.id, true, &["web"]).await;
    web.close().await;
    wait_presence(&api, &ann.token, &bob.id, false, &[]).await;
}

#[tokio::test]
async fn a_stranger_is_told_an_online_user_is_offline_while_a_friend_and_the_user_see_the_truth() {
    let api = Api::new();
    let ((ann, bob), stranger) = tokio::join!(friends_pair(&api, "wspriv"), new_user(&api, "wspriv"));
    let _web = dial(1, &bob, "web").await;
    wait_presence(&api, &ann.token, &bob.id, true, &["web"]).await;
    wait_presence(&api, &bob.token, &bob.id, true, &["web"]).await;
    let a = online_query(&api, &stranger.token, &[&bob.id, &ann.id]).await.expect(200);
    let seen = find(&a.data()["users"], "user_id", &bob.id).unwrap();
    assert_eq!(*seen, json!({ "user_id": bob.id, "online": false, "platforms": [] }), "a stranger gets the offline answer: {}", a.body);
}

#[tokio::test]
async fn the_online_query_needs_1_to_100_ids() {
    let api = Api::new();
    let ann = new_user(&api, "wsonlv").await;
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let hundred: Vec<&str> = many[..100].iter().map(String::as_str).collect();
    let a = online_query(&api, &ann.token, &hundred).await.expect(200);
    assert_eq!(a.data()["users"].as_array().map(Vec::len), Some(100), "{}", a.body);
    for (what, path) in [("no ids", "/api/user/online?user_ids=".to_owned()), ("101 ids", format!("/api/user/online?user_ids={}", many.join(",")))] {
        let a = api.get(&path, Some(&ann.token)).await;
        assert!(matches!(a.status.as_u16(), 400 | 422), "{what}: {}", a.body);
    }
}

#[tokio::test]
async fn friends_get_a_presence_frame_when_a_users_first_device_comes_online_and_its_last_goes_offline() {
    let api = Api::new();
    let ((ann, bob), stranger) = tokio::join!(friends_pair(&api, "wspres"), new_user(&api, "wspres"));
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut stranger_ws = dial(2, &stranger, "web").await;

    let phone = dial(2, &bob, "ios").await;
    let f = ann_ws.expect_where("presence", |d| d["user_id"] == bob.id.as_str(), WAIT).await;
    assert_eq!(f["data"], json!({ "user_id": bob.id, "online": true }), "{f}");

    // A second device, then the first one leaving: bob stays online, nothing is told.
    let desktop = dial(1, &bob, "desktop").await;
    wait_presence(&api, &ann.token, &bob.id, true, &["desktop", "ios"]).await;
    phone.close().await;
    wait_presence(&api, &ann.token, &bob.id, true, &["desktop"]).await;
    desktop.close().await;
    let f = ann_ws.expect_where("presence", |d| d["user_id"] == bob.id.as_str(), WAIT).await;
    assert_eq!(f["data"], json!({ "user_id": bob.id, "online": false }), "the next presence frame is the last device going offline: {f}");
    ann_ws.assert_no("presence", |d| d["user_id"] == bob.id.as_str(), QUIET, "an extra presence frame").await;
    stranger_ws.assert_no("presence", |d| d["user_id"] == bob.id.as_str(), Duration::from_millis(100), "a non-friend got presence").await;
}
