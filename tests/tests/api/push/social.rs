//! Friend and group frames.

use super::*;

#[tokio::test]
async fn a_friend_request_and_its_acceptance_reach_both_users() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "wsfr"), new_user(&api, "wsfr"));
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let asked = api.post("/api/friend/requests", Some(&ann.token), json!({ "to_user_id": bob.id, "message": "hi bob" })).await.expect(200);
    let rid = asked.data()["request_id"].as_str().unwrap().to_owned();
    for (who, ws) in [("bob (the recipient)", &mut bob_ws), ("ann (the sender)", &mut ann_ws)] {
        let f = ws.expect_where("friend", |d| d["event"] == "FriendRequestSent", WAIT).await;
        let d = &f["data"];
        assert_eq!(d["request_id"], rid.as_str(), "{who}: {f}");
        assert_eq!(d["from_user_id"], ann.id.as_str(), "{who}: {f}");
        assert_eq!(d["to_user_id"], bob.id.as_str(), "{who}: {f}");
        assert_eq!(d["message"], "hi bob", "{who}: {f}");
    }

    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&bob.token), json!({})).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("friend", |d| d["event"] == "FriendRequestAccepted", WAIT).await;
        assert_eq!(f["data"]["request_id"], rid.as_str(), "{who}: {f}");
    }
}

#[tokio::test]
async fn a_friend_request_from_a_blocked_user_reaches_only_the_sender_and_a_block_only_the_blocker() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "wsfrb"), new_user(&api, "wsfrb"));
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let f = bob_ws.expect_where("friend", |d| d["event"] == "UserBlocked", WAIT).await;
    assert!(f["data"].to_string().contains(&ann.id), "names the blocked user: {f}");

    api.post("/api/friend/requests", Some(&ann.token), json!({ "to_user_id": bob.id })).await.expect(200);
    let f = ann_ws.expect_where("friend", |d| d["event"] == "FriendRequestSent", WAIT).await;
    assert_ne!(f["data"]["hidden_from_recipient"], true, "the sender must not learn of the block: {f}");
    bob_ws.assert_no("friend", |d| d["event"] == "FriendRequestSent", QUIET, "a blocked user's request reached the blocker").await;
    ann_ws.assert_no("friend", |d| d["event"] == "UserBlocked", Duration::from_millis(100), "the blocked user learned of the block").await;
}

#[tokio::test]
async fn adding_group_members_reaches_the_members_and_the_added_user_who_then_gets_group_messages() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgadd", 3).await;
    let (member, newcomer, outsider) = (&f[0], &f[1], &f[2]);
    let mut owner_ws = dial(1, &owner, "web").await;
    let mut member_ws = dial(2, member, "web").await;
    let mut newcomer_ws = dial(1, newcomer, "ios").await;
    let mut outsider_ws = dial(2, outsider, "web").await;

    let (gid, conv) = create_group(&api, &owner, &[member], json!({})).await;
    for (who, ws) in [("the owner", &mut owner_ws), ("the first member", &mut member_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupCreated", WAIT).await;
        assert_eq!(f["data"]["group_id"], gid.as_str(), "{who}: {f}");
    }

    api.post(&format!("/api/group/{gid}/members"), Some(&owner.token), json!({ "user_ids": [newcomer.id] })).await.expect(200);
    for (who, ws) in [("the owner", &mut owner_ws), ("the member", &mut member_ws), ("the added user", &mut newcomer_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupMembersAdded", WAIT).await;
        let d = &f["data"];
        assert_eq!(d["group_id"], gid.as_str(), "{who}: {f}");
        assert_eq!(d["by"], owner.id.as_str(), "{who}: {f}");
        assert_eq!(d["user_ids"], json!([newcomer.id]), "{who}: {f}");
    }

    let answer = sent(&api, member, text_in(&conv, "welcome")).await;
    newcomer_ws.expect_message(&mid(&answer)).await;
    owner_ws.expect_message(&mid(&answer)).await;
    outsider_ws.assert_no("group", |d| d["group_id"] == gid.as_str(), QUIET, "an outsider got a group frame").await;
    outsider_ws.assert_no_message_in(&conv, Duration::from_millis(100), "an outsider got a group message").await;
}

#[tokio::test]
async fn a_kicked_member_is_told_and_gets_no_more_group_messages() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgkick", 2).await;
    let (stays, kicked) = (&f[0], &f[1]);
    let (gid, conv) = create_group(&api, &owner, &[stays, kicked], json!({})).await;
    let mut stays_ws = dial(1, stays, "web").await;
    let mut kicked_ws = dial(2, kicked, "web").await;

    delete(&api, &format!("/api/group/{gid}/members/{}", kicked.id), Some(&owner.token)).await.expect(200);
    for (who, ws) in [("the kicked user", &mut kicked_ws), ("a remaining member", &mut stays_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupMemberKicked", WAIT).await;
        assert_eq!(f["data"]["group_id"], gid.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["user_id"], kicked.id.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["by"], owner.id.as_str(), "{who}: {f}");
    }

    let answer = sent(&api, &owner, text_in(&conv, "after the kick")).await;
    stays_ws.expect_message(&mid(&answer)).await;
    let id = mid(&answer);
    kicked_ws.assert_no("message", |d| d["message_id"] == id.as_str(), QUIET, "a kicked member still gets group messages").await;
}

#[tokio::test]
async fn a_join_request_reaches_the_requester_and_the_groups_owner_and_admins_but_not_plain_members() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgjoin", 2).await;
    let (admin, plain) = (&f[0], &f[1]);
    let asker = new_user(&api, "wsgjoin").await;
    let (gid, _) = create_group(&api, &owner, &[admin, plain], json!({ "join_policy": "approval" })).await;
    api.put(&format!("/api/group/{gid}/members/{}/role", admin.id), Some(&owner.token), json!({ "role": "admin" })).await.expect(200);
    let mut owner_ws = dial(1, &owner, "web").await;
    let mut admin_ws = dial(2, admin, "web").await;
    let mut plain_ws = dial(1, plain, "web").await;
    let mut asker_ws = dial(2, &asker, "web").await;

    let joined = api.post(&format!("/api/group/{gid}/join"), Some(&asker.token), json!({ "message": "let me in" })).await.expect(200);
    assert_eq!(joined.data()["status"], "pending", "{}", joined.body);
    let rid = joined.data()["request_id"].clone();
    for (who, ws) in [("the requester", &mut asker_ws), ("the owner", &mut owner_ws), ("an admin", &mut admin_ws)] {
        let f = ws.expect_where("group", |d| d["event"] == "GroupJoinRequested", WAIT).await;
        assert_eq!(f["data"]["group_id"], gid.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["request_id"], rid, "{who}: {f}");
        assert_eq!(f["data"]["user_id"], asker.id.as_str(), "{who}: {f}");
    }
    plain_ws.assert_no("group", |d| d["event"] == "GroupJoinRequested", QUIET, "a plain member got a join request").await;
}

/// The membership each node caches is patched in the conversation's own
/// order (docs/push.md, "Group membership on the node"): with the nodes'
/// entries already loaded by an earlier message, a member kicked and at once
/// followed by a message does not get it, and a member added and at once
/// followed by one does — without waiting for any frame in between.
#[tokio::test]
async fn with_membership_cached_a_kick_or_an_add_holds_for_the_very_next_message() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wscache", 3).await;
    let (stays, kicked, newcomer) = (&f[0], &f[1], &f[2]);
    let (gid, conv) = create_group(&api, &owner, &[stays, kicked], json!({})).await;
    // One connection per user on each node, so both nodes cache the group.
    let mut stays_ws = dial(1, stays, "web").await;
    let mut kicked_ws = dial(2, kicked, "web").await;
    let mut newcomer_ws = dial(1, newcomer, "web").await;
    let mut owner_ws = dial(2, &owner, "web").await;

    let warm = sent(&api, &owner, text_in(&conv, "warm the caches")).await;
    stays_ws.expect_message(&mid(&warm)).await;
    kicked_ws.expect_message(&mid(&warm)).await;
    owner_ws.expect_message(&mid(&warm)).await;

    delete(&api, &format!("/api/group/{gid}/members/{}", kicked.id), Some(&owner.token)).await.expect(200);
    let after_kick = sent(&api, &owner, text_in(&conv, "right after the kick")).await;
    api.post(&format!("/api/group/{gid}/members"), Some(&owner.token), json!({ "user_ids": [newcomer.id] })).await.expect(200);
    let after_add = sent(&api, &owner, text_in(&conv, "right after the add")).await;

    stays_ws.expect_message(&mid(&after_kick)).await;
    stays_ws.expect_message(&mid(&after_add)).await;
    newcomer_ws.expect_message(&mid(&after_add)).await;
    let (k, a) = (mid(&after_kick), mid(&after_add));
    kicked_ws
        .assert_no("message", |d| d["message_id"] == k.as_str() || d["message_id"] == a.as_str(), QUIET, "a kicked member got a message sent after the kick")
        .await;
}

/// A `friend` or `group` frame means the change is readable: the list the
/// frame tells the client to refresh, read the moment the frame arrives
/// (before the actor's own answer, even), already has it (docs/push.md,
/// "Frames and reads"). Without the wait for the projection the frame can
/// overtake it, which other users' traffic makes likely.
#[tokio::test]
async fn a_list_read_right_after_a_friend_or_group_frame_has_the_change() {
    let api = Api::new();
    let owner = new_user(&api, "wsread").await;
    let mut owner_ws = dial(1, &owner, "web").await;
    let crowd: std::sync::Arc<Vec<(String, String)>> =
        futures::future::join_all((0..24).map(|_| new_user(&api, "wsreadc"))).await.into_iter().map(|u| (u.token, u.id)).collect::<Vec<_>>().into();
    for round in 0..4 {
        let other = new_user(&api, "wsread").await;
        let mut other_ws = dial(2, &other, "web").await;
        // other users' requests keep the relations projection busy
        let noise = |shift: usize| {
            let (api, crowd) = (api.clone(), crowd.clone());
            tokio::spawn(async move {
                futures::future::join_all(crowd.iter().enumerate().map(|(i, (token, _))| {
                    let to = crowd[(i + 1 + shift) % crowd.len()].1.clone();
                    let api = api.clone();
                    async move { api.post("/api/friend/requests", Some(token), json!({ "to_user_id": to })).await }
                }))
                .await
            })
        };

        let busy = noise(round * 3);
        let ask = {
            let (api, token, to) = (api.clone(), other.token.clone(), owner.id.clone());
            tokio::spawn(async move { api.post("/api/friend/requests", Some(&token), json!({ "to_user_id": to })).await })
        };
        owner_ws.expect_where("friend", |d| d["event"] == "FriendRequestSent" && d["from_user_id"] == other.id.as_str(), WAIT).await;
        let requests = api.get("/api/friend/requests", Some(&owner.token)).await.expect(200);
        assert!(requests.body.to_string().contains(&other.id), "round {round}: the request frame came before the request list had it: {}", requests.body);
        let rid = ask.await.unwrap().expect(200).data()["request_id"].as_str().unwrap().to_owned();
        busy.await.unwrap();

        let busy = noise(round * 3 + 1);
        let accept = {
            let (api, token) = (api.clone(), owner.token.clone());
            tokio::spawn(async move { api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&token), json!({})).await })
        };
        other_ws.expect_where("friend", |d| d["event"] == "FriendRequestAccepted", WAIT).await;
        let friends = api.get("/api/friend/list", Some(&other.token)).await.expect(200);
        assert!(friends.body.to_string().contains(&owner.id), "round {round}: the acceptance frame came before the friend list had it: {}", friends.body);
        accept.await.unwrap().expect(200);
        busy.await.unwrap();

        let name = unique("wsreadg");
        let create = {
            let (api, token, body) = (api.clone(), owner.token.clone(), json!({ "name": name, "member_ids": [other.id] }));
            tokio::spawn(async move { api.post("/api/group", Some(&token), body).await })
        };
        other_ws.expect_where("group", |d| d["event"] == "GroupCreated" && d.to_string().contains(name.as_str()), WAIT).await;
        let mine = api.get("/api/group/mine", Some(&other.token)).await.expect(200);
        assert!(mine.body.to_string().contains(&name), "round {round}: the group frame came before the group list had it: {}", mine.body);
        create.await.unwrap().expect(200);
    }
}
