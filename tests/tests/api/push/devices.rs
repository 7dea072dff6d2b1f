//! Multi-device policy and kicks.

use super::*;

#[tokio::test]
async fn a_second_mobile_connection_on_the_other_node_kicks_the_first_with_4001() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wskick").await;
    let mut phone = dial(1, &bob, "ios").await;
    let mut tablet = dial(2, &bob, "android").await;

    let kick = phone.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_in_elsewhere", "{kick}");
    assert_eq!(kick["data"]["by_platform"], "android", "{kick}");
    assert_eq!(phone.expect_close(WAIT).await, Some(4001));

    // The newer connection stays and gets what follows.
    tablet.ping("still-here").await;
    let answer = sent(&api, &ann, text_to(&bob, "after the kick")).await;
    tablet.expect_message(&mid(&answer)).await;
    tablet.assert_no("kick", |_| true, QUIET, "the newer connection must not be kicked").await;
}

#[tokio::test]
async fn a_second_desktop_connection_on_the_same_node_kicks_the_first() {
    let api = Api::new();
    let ann = new_user(&api, "wskick2").await;
    let mut first = connect_first_frame(2, &ann.token, &device(), "desktop").await;
    let mut second = connect_first_frame(2, &ann.token, &device(), "desktop").await;
    let kick = first.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_in_elsewhere", "{kick}");
    assert_eq!(kick["data"]["by_platform"], "desktop", "{kick}");
    assert_eq!(first.expect_close(WAIT).await, Some(4001));
    second.ping("kept").await;
}

#[tokio::test]
async fn connections_of_different_platform_classes_coexist() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsclass").await;
    let conv = direct_id(&ann, &bob);
    let mut devices = vec![("ios on node 1", dial(1, &bob, "ios").await), ("web on node 2", dial(2, &bob, "web").await)];
    devices.push(("desktop on node 1", dial(1, &bob, "desktop").await));

    let answer = sent(&api, &ann, text_to(&bob, "to every class")).await;
    for (what, ws) in devices.iter_mut() {
        let got = ws.collect_messages(&conv, 1, WAIT).await;
        assert_eq!(mid(&got[0]), mid(&answer), "{what}");
        ws.ping("alive").await;
    }
    for (what, ws) in devices.iter_mut() {
        ws.assert_no("kick", |_| true, QUIET, &format!("{what} was kicked by another class")).await;
        assert!(!ws.has_ended(), "{what} was closed");
    }
}

#[tokio::test]
async fn a_new_connection_with_the_same_device_id_replaces_the_old_one() {
    let api = Api::new();
    let ann = new_user(&api, "wsdev").await;

    // Same device id, another class: only the device rule applies.
    let d = device();
    let mut old = connect(1, &ann.token, &d, "ios").await;
    let mut new = connect(2, &ann.token, &d, "desktop").await;
    let kick = old.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "replaced", "{kick}");
    assert_eq!(old.expect_close(WAIT).await, Some(4001));
    new.ping("new").await;

    // Same device id and platform: a reconnect replaces the connection it left behind.
    let d = device();
    let mut old = connect(1, &ann.token, &d, "web").await;
    let mut new = connect(2, &ann.token, &d, "web").await;
    let kick = old.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "replaced", "{kick}");
    assert_eq!(old.expect_close(WAIT).await, Some(4001));
    new.ping("new").await;
}

#[tokio::test]
async fn the_same_device_id_of_two_different_users_kicks_nobody() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "wsdev2"), new_user(&api, "wsdev2"));
    let d = device();
    let mut a = connect(1, &ann.token, &d, "web").await;
    let mut b = connect(2, &bob.token, &d, "web").await;
    a.ping("a").await;
    b.ping("b").await;
    a.assert_no("kick", |_| true, QUIET, "another user's device id kicked ann").await;
    assert!(!a.has_ended());
}

#[tokio::test]
async fn logging_out_kicks_that_sessions_connections_with_signed_out_and_spares_other_sessions() {
    let api = Api::new();
    let name = unique("wsout");
    let (_, phone_token, _) = api.signed_up(&name).await;
    let laptop_token = api.login(&name).await["access_token"].as_str().unwrap().to_owned();
    let mut phone = connect(1, &phone_token, &device(), "web").await;
    let mut laptop = connect(2, &laptop_token, &device(), "desktop").await;

    api.post("/api/auth/logout", Some(&phone_token), json!({})).await.expect(200);
    let kick = phone.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_out", "{kick}");
    assert_eq!(phone.expect_close(WAIT).await, Some(4001));

    laptop.ping("other-session").await;
    laptop.assert_no("kick", |_| true, QUIET, "another session's connection was kicked").await;
    let (status, _) = refused_handshake(&query_url(1, &phone_token, &device(), "web")).await;
    assert_eq!(status, 401, "the logged-out token cannot connect again");
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_kicks_the_sessions_connections() {
    let api = Api::new();
    let (_, access, refresh) = api.signed_up(&unique("wsreuse")).await;
    let mut ws = connect(2, &access, &device(), "android").await;

    // A normal rotation keeps the session and the connection.
    api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(200);
    ws.ping("rotated").await;
    ws.assert_no("kick", |_| true, QUIET, "a refresh is no sign-out").await;

    // Reusing the spent token ends the session.
    api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(401);
    let kick = ws.expect("kick", WAIT).await;
    assert_eq!(kick["data"]["reason"], "signed_out", "{kick}");
    assert_eq!(ws.expect_close(WAIT).await, Some(4001));
}
