//! Groups: creation, settings, roles and the permission table, joining and
//! inviting, leaving, member paging and incremental sync, end to end, as
//! docs/social.md specifies them.

use crate::friends::{assert_nothing_appended, befriend, befriend_all, blank, delete, find, ids, new_user, new_users, sorted, version, User};
use crate::helpers::{unique, Answer, Api};
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// `owner` creates a group with `members` and the extra settings in `extra`
/// (a JSON object); returns the group id.
async fn create(api: &Api, owner: &User, members: &[&User], extra: Value) -> String {
    let mut body = json!({ "name": unique("grp"), "member_ids": members.iter().map(|m| m.id.clone()).collect::<Vec<_>>() });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let a = api.post("/api/group", Some(&owner.token), body).await.expect(200);
    assert_eq!(a.data()["member_count"], members.len() + 1, "{}", a.body);
    a.data()["group_id"].as_str().unwrap().to_owned()
}

/// A group owner and `n` of their friends.
async fn owner_with_friends(api: &Api, prefix: &str, n: usize) -> (User, Vec<User>) {
    let mut users = new_users(api, prefix, n + 1).await;
    let owner = users.remove(0);
    befriend_all(api, &owner, &users.iter().collect::<Vec<_>>()).await;
    (owner, users)
}

async fn info(api: &Api, user: &User, gid: &str) -> Answer {
    api.get(&format!("/api/group/{gid}"), Some(&user.token)).await
}

async fn my_role(api: &Api, user: &User, gid: &str) -> Value {
    info(api, user, gid).await.expect(200).data()["my_role"].clone()
}

async fn members(api: &Api, user: &User, gid: &str, query: &str) -> Answer {
    api.get(&format!("/api/group/{gid}/members{query}"), Some(&user.token)).await.expect(200)
}

async fn mine(api: &Api, user: &User, query: &str) -> Answer {
    api.get(&format!("/api/group/mine{query}"), Some(&user.token)).await.expect(200)
}

async fn set_role(api: &Api, by: &User, gid: &str, who: &str, role: &str) -> Answer {
    api.put(&format!("/api/group/{gid}/members/{who}/role"), Some(&by.token), json!({ "role": role })).await
}

async fn invite(api: &Api, by: &User, gid: &str, who: &[&User]) -> Answer {
    api.post(&format!("/api/group/{gid}/members"), Some(&by.token), json!({ "user_ids": who.iter().map(|u| u.id.clone()).collect::<Vec<_>>() })).await
}

async fn kick(api: &Api, by: &User, gid: &str, who: &str) -> Answer {
    delete(api, &format!("/api/group/{gid}/members/{who}"), Some(&by.token)).await
}

async fn mute(api: &Api, by: &User, gid: &str, who: &str, until: Value) -> Answer {
    api.put(&format!("/api/group/{gid}/members/{who}/mute"), Some(&by.token), json!({ "until": until })).await
}

async fn update(api: &Api, by: &User, gid: &str, body: Value) -> Answer {
    api.put(&format!("/api/group/{gid}"), Some(&by.token), body).await
}

async fn join(api: &Api, who: &User, gid: &str, body: Value) -> Answer {
    api.post(&format!("/api/group/{gid}/join"), Some(&who.token), body).await
}

async fn join_requests(api: &Api, by: &User, gid: &str, query: &str) -> Answer {
    api.get(&format!("/api/group/{gid}/join-requests{query}"), Some(&by.token)).await
}

fn forbidden(a: Answer, what: &str) {
    let a = a.expect(403);
    assert_eq!(a.error_kind(), "forbidden", "{what}: {}", a.body);
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

fn member_ids(a: &Answer) -> Vec<String> {
    ids(&a.data()["members"], "user_id")
}

fn group_ids(a: &Answer) -> Vec<String> {
    ids(&a.data()["groups"], "group_id")
}

// ---------------------------------------------------------------------------
// Creating and reading.

#[tokio::test]
async fn a_group_created_with_friends_is_seen_by_everyone_with_their_role() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "gown", 2).await;
    let name = unique("team");
    let created = api
        .post(
            "/api/group",
            Some(&owner.token),
            json!({ "name": name, "member_ids": [f[0].id, f[1].id], "avatar": "https://img.example/team.png", "announcement": "Welcome" }),
        )
        .await
        .expect(200);
    let gid = created.data()["group_id"].as_str().unwrap().to_owned();
    let conversation = created.data()["conversation_id"].as_str().expect("a conversation id").to_owned();
    assert_eq!(created.data()["member_count"], 3);

    let i = info(&api, &owner, &gid).await.expect(200);
    let d = i.data();
    assert_eq!(d["group_id"], gid.as_str());
    assert_eq!(d["conversation_id"], conversation.as_str());
    assert_eq!(d["name"], name.as_str());
    assert_eq!(d["avatar"], "https://img.example/team.png");
    assert_eq!(d["announcement"], "Welcome");
    assert_eq!(d["owner_id"], owner.id.as_str());
    assert_eq!(d["join_policy"], "approval", "approval is the default: {}", i.body);
    assert_eq!(d["members_can_invite"], true, "members may invite by default: {}", i.body);
    assert_eq!(d["mute_all"], false);
    assert_eq!(d["member_count"], 3);
    assert!(d["max_members"].as_i64().unwrap() >= 3, "{}", i.body);
    assert!(!d["created_at"].is_null(), "{}", i.body);
    assert_eq!(d["my_role"], "owner");
    assert_eq!(my_role(&api, &f[0], &gid).await, "member");

    for (user, role) in [(&owner, "owner"), (&f[1], "member")] {
        let list = mine(&api, user, "").await;
        version(&list);
        let g = find(&list.data()["groups"], "group_id", &gid).unwrap_or_else(|| panic!("{} must list the group: {}", user.name, list.body));
        assert_eq!(g["role"], role);
        assert_eq!(g["name"], name.as_str());
        assert_eq!(g["conversation_id"], conversation.as_str());
        assert_eq!(g["member_count"], 3);
        assert!(g["version"].is_i64(), "{g}");
        assert_eq!(list.data()["removed"], json!([]));
    }

    let m = members(&api, &f[0], &gid, "").await;
    assert_eq!(m.data()["total"], 3);
    version(&m);
    let first = &m.data()["members"][0];
    assert_eq!(first["user_id"], owner.id.as_str());
    assert_eq!(first["role"], "owner");
    assert_eq!(first["username"], owner.name.as_str());
    assert_eq!(first["nickname"], owner.nickname.as_str());
    assert!(first["muted_until"].is_null(), "{first}");
    assert!(!first["joined_at"].is_null(), "{first}");
    assert_eq!(sorted(member_ids(&m)), sorted(vec![owner.id.clone(), f[0].id.clone(), f[1].id.clone()]));
}

#[tokio::test]
async fn a_group_with_a_member_who_is_not_the_creators_friend_is_403_not_friends_and_appends_nothing() {
    let api = Api::new();
    let ((owner, f), stranger) = tokio::join!(owner_with_friends(&api, "nf", 1), new_user(&api, "nfs"));
    let name = unique("notfriends");
    let a = api.post("/api/group", Some(&owner.token), json!({ "name": name, "member_ids": [f[0].id, stranger.id] })).await.expect(403);
    assert_eq!(a.error_kind(), "not_friends", "{}", a.body);
    assert_nothing_appended(&name).await;
    assert!(group_ids(&mine(&api, &owner, "").await).is_empty());
}

#[tokio::test]
async fn a_group_name_must_have_1_to_64_characters_and_bad_settings_are_422() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "gname", 1).await;
    let marker = unique("badname");
    let too_long = format!("{marker}{}", "x".repeat(65 - marker.chars().count()));
    for name in ["".to_owned(), too_long] {
        let a = api.post("/api/group", Some(&owner.token), json!({ "name": name, "member_ids": [f[0].id] })).await.expect(422);
        assert_eq!(a.data()["field"], "name", "{}", a.body);
    }
    let a = api
        .post("/api/group", Some(&owner.token), json!({ "name": format!("{marker}p"), "member_ids": [f[0].id], "join_policy": "sometimes" }))
        .await
        .expect(422);
    assert!(a.body.to_string().contains("join_policy"), "{}", a.body);

    // 64 characters (not bytes) is fine.
    let stem = unique("ok");
    let longest = format!("{stem}{}", "ß".repeat(64 - stem.chars().count()));
    assert_eq!(longest.chars().count(), 64);
    let created = api.post("/api/group", Some(&owner.token), json!({ "name": longest, "member_ids": [f[0].id] })).await.expect(200);
    let gid = created.data()["group_id"].as_str().unwrap().to_owned();

    let long_announcement = format!("{marker}{}", "a".repeat(1001 - marker.chars().count()));
    let a = update(&api, &owner, &gid, json!({ "announcement": long_announcement })).await.expect(422);
    assert_eq!(a.data()["field"], "announcement", "{}", a.body);
    let a = update(&api, &owner, &gid, json!({ "name": "" })).await.expect(422);
    assert_eq!(a.data()["field"], "name", "{}", a.body);

    assert_nothing_appended(&marker).await;
    assert_eq!(group_ids(&mine(&api, &owner, "").await), vec![gid]);
}

#[tokio::test]
async fn an_admin_updates_the_group_and_a_member_may_not() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "gupd", 2).await;
    let (admin, member) = (&f[0], &f[1]);
    let gid = create(&api, &owner, &[admin, member], json!({})).await;
    set_role(&api, &owner, &gid, &admin.id, "admin").await.expect(200);

    let renamed = unique("renamed");
    let a = update(&api, admin, &gid, json!({ "name": renamed, "announcement": "Rules", "join_policy": "free", "members_can_invite": false }))
        .await
        .expect(200);
    assert_eq!(a.data()["group_id"], gid.as_str());
    assert_eq!(a.data()["name"], renamed.as_str());
    assert_eq!(a.data()["announcement"], "Rules");
    assert_eq!(a.data()["join_policy"], "free");
    assert_eq!(a.data()["members_can_invite"], false);

    let seen = info(&api, member, &gid).await.expect(200);
    assert_eq!(seen.data()["name"], renamed.as_str());
    assert_eq!(seen.data()["announcement"], "Rules");
    assert_eq!(find(&mine(&api, member, "").await.data()["groups"], "group_id", &gid).unwrap()["name"], renamed.as_str());

    let marker = unique("coup");
    forbidden(update(&api, member, &gid, json!({ "announcement": marker })).await, "a member updating");
    assert_nothing_appended(&marker).await;
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["announcement"], "Rules");
}

// ---------------------------------------------------------------------------
// The permission table.

#[tokio::test]
async fn each_role_may_do_exactly_what_the_permission_table_allows() {
    let api = Api::new();
    let ((owner, f), others) = tokio::join!(owner_with_friends(&api, "perm", 5), new_users(&api, "perm", 3));
    let (a1, a2, m1, m2, x1) = (&f[0], &f[1], &f[2], &f[3], &f[4]);
    let (outsider, x2, x3) = (&others[0], &others[1], &others[2]);
    tokio::join!(befriend(&api, a1, x2), befriend(&api, m1, x3));
    let gid = create(&api, &owner, &[a1, a2, m1, m2], json!({})).await;
    let name = info(&api, &owner, &gid).await.expect(200).data()["name"].as_str().unwrap().to_owned();
    let future = OffsetDateTime::now_utc() + time::Duration::hours(1);

    // Set roles: only the owner.
    for who in [m1, outsider] {
        forbidden(set_role(&api, who, &gid, &a1.id, "admin").await, "a member or outsider setting a role");
    }
    for admin in [a1, a2] {
        let a = set_role(&api, &owner, &gid, &admin.id, "admin").await.expect(200);
        assert_eq!(a.data()["user_id"], admin.id.as_str());
        assert_eq!(a.data()["role"], "admin");
    }
    forbidden(set_role(&api, a1, &gid, &m1.id, "admin").await, "an admin setting a role");
    forbidden(set_role(&api, a1, &gid, &a2.id, "member").await, "an admin demoting an admin");

    // Read info and search: everyone.
    for (who, role) in [(&owner, json!("owner")), (a1, json!("admin")), (m1, json!("member")), (outsider, Value::Null)] {
        assert_eq!(my_role(&api, who, &gid).await, role, "{}", who.name);
    }
    let found = api.get(&format!("/api/group/search?q={name}"), Some(&outsider.token)).await.expect(200);
    assert!(find(&found.data()["groups"], "group_id", &gid).is_some(), "{}", found.body);

    // List members, set own group nickname, leave: members only.
    for who in [&owner, a1, m1] {
        members(&api, who, &gid, "").await;
        api.put(&format!("/api/group/{gid}/nickname"), Some(&who.token), json!({ "nickname": "me" })).await.expect(200);
    }
    forbidden(api.get(&format!("/api/group/{gid}/members"), Some(&outsider.token)).await, "an outsider listing members");
    forbidden(api.put(&format!("/api/group/{gid}/nickname"), Some(&outsider.token), json!({ "nickname": "me" })).await, "an outsider's nickname");
    forbidden(api.post(&format!("/api/group/{gid}/leave"), Some(&outsider.token), json!({})).await, "an outsider leaving");

    // Update info, mute all, list and decide join requests: owner and admins.
    for who in [&owner, a1] {
        let a = update(&api, who, &gid, json!({ "announcement": format!("by {}", who.name) })).await.expect(200);
        assert_eq!(a.data()["announcement"], format!("by {}", who.name));
    }
    for who in [m1, outsider] {
        forbidden(update(&api, who, &gid, json!({ "announcement": "no" })).await, "a member or outsider updating");
    }
    let muted = api.put(&format!("/api/group/{gid}/mute-all"), Some(&a1.token), json!({ "muted": true })).await.expect(200);
    assert_eq!(muted.data()["group_id"], gid.as_str());
    assert_eq!(muted.data()["mute_all"], true);
    assert_eq!(info(&api, m1, &gid).await.expect(200).data()["mute_all"], true);
    for who in [m1, outsider] {
        forbidden(api.put(&format!("/api/group/{gid}/mute-all"), Some(&who.token), json!({ "muted": false })).await, "a member muting all");
    }
    let unmuted = api.put(&format!("/api/group/{gid}/mute-all"), Some(&owner.token), json!({ "muted": false })).await.expect(200);
    assert_eq!(unmuted.data()["mute_all"], false);

    let pending = join(&api, outsider, &gid, json!({})).await.expect(200);
    assert_eq!(pending.data()["status"], "pending");
    let rid = pending.data()["request_id"].as_str().unwrap().to_owned();
    for who in [&owner, a1] {
        let listed = join_requests(&api, who, &gid, "").await.expect(200);
        assert!(find(&listed.data()["requests"], "request_id", &rid).is_some(), "{}", listed.body);
    }
    for who in [m1, outsider] {
        forbidden(join_requests(&api, who, &gid, "").await, "a member listing join requests");
        forbidden(
            api.post(&format!("/api/group/{gid}/join-requests/{rid}/approve"), Some(&who.token), json!({})).await,
            "a member approving",
        );
        forbidden(api.post(&format!("/api/group/{gid}/join-requests/{rid}/reject"), Some(&who.token), json!({})).await, "a member rejecting");
    }
    let rejected = api.post(&format!("/api/group/{gid}/join-requests/{rid}/reject"), Some(&a1.token), json!({})).await.expect(200);
    assert_eq!(rejected.data()["status"], "rejected");
    assert_eq!(my_role(&api, outsider, &gid).await, Value::Null);

    // Invite: owner and admins; members only while members_can_invite.
    forbidden(invite(&api, outsider, &gid, &[x1]).await, "an outsider inviting");
    let a = invite(&api, &owner, &gid, &[x1]).await.expect(200);
    assert_eq!(ids(&a.data()["added"], "user_id"), vec![x1.id.clone()], "{}", a.body);
    let a = invite(&api, a1, &gid, &[x2]).await.expect(200);
    assert_eq!(ids(&a.data()["added"], "user_id"), vec![x2.id.clone()], "{}", a.body);
    update(&api, a1, &gid, json!({ "members_can_invite": false })).await.expect(200);
    forbidden(invite(&api, m1, &gid, &[x3]).await, "a member inviting when members may not");
    assert_eq!(my_role(&api, x3, &gid).await, Value::Null);
    update(&api, a1, &gid, json!({ "members_can_invite": true })).await.expect(200);
    let a = invite(&api, m1, &gid, &[x3]).await.expect(200);
    assert_eq!(ids(&a.data()["added"], "user_id"), vec![x3.id.clone()], "a member's friend is added directly: {}", a.body);
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["member_count"], 8);

    // Kick or mute a member: owner and admins.
    for who in [m1, outsider] {
        forbidden(mute(&api, who, &gid, &m2.id, json!(rfc3339(future))).await, "a member or outsider muting");
        forbidden(kick(&api, who, &gid, &x1.id).await, "a member or outsider kicking");
    }
    let a = mute(&api, a1, &gid, &m2.id, json!(rfc3339(future))).await.expect(200);
    assert_eq!(a.data()["user_id"], m2.id.as_str());
    let until = OffsetDateTime::parse(a.data()["muted_until"].as_str().expect("a mute time"), &Rfc3339).unwrap();
    assert!((until - future).abs() < time::Duration::seconds(2), "{}", a.body);
    let listed = members(&api, &owner, &gid, "").await;
    assert!(!find(&listed.data()["members"], "user_id", &m2.id).unwrap()["muted_until"].is_null(), "{}", listed.body);
    let a = mute(&api, a1, &gid, &m2.id, Value::Null).await.expect(200);
    assert!(a.data()["muted_until"].is_null(), "null unmutes: {}", a.body);
    mute(&api, &owner, &gid, &m2.id, json!(rfc3339(future))).await.expect(200);
    let a = mute(&api, &owner, &gid, &m2.id, json!(rfc3339(OffsetDateTime::now_utc() - time::Duration::hours(1)))).await.expect(200);
    assert!(a.data()["muted_until"].is_null(), "a past time unmutes: {}", a.body);
    let listed = members(&api, &owner, &gid, "").await;
    assert!(find(&listed.data()["members"], "user_id", &m2.id).unwrap()["muted_until"].is_null(), "{}", listed.body);

    let a = kick(&api, a1, &gid, &x2.id).await.expect(200);
    assert_eq!(a.data()["user_id"], x2.id.as_str());
    assert_eq!(a.data()["removed"], true);
    assert_eq!(my_role(&api, x2, &gid).await, Value::Null);
    kick(&api, &owner, &gid, &x1.id).await.expect(200);
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["member_count"], 6);

    // Kick or mute an admin: only the owner.
    for who in [a1, m1] {
        forbidden(kick(&api, who, &gid, &a2.id).await, "a non-owner kicking an admin");
        forbidden(mute(&api, who, &gid, &a2.id, json!(rfc3339(future))).await, "a non-owner muting an admin");
    }
    mute(&api, &owner, &gid, &a2.id, json!(rfc3339(future))).await.expect(200);
    mute(&api, &owner, &gid, &a2.id, Value::Null).await.expect(200);

    // Kick or mute the owner: nobody.
    for who in [a1, m1, outsider] {
        forbidden(kick(&api, who, &gid, &owner.id).await, "kicking the owner");
        forbidden(mute(&api, who, &gid, &owner.id, json!(rfc3339(future))).await, "muting the owner");
    }

    // Acting on yourself is 422; on a non-member 404.
    kick(&api, &owner, &gid, &owner.id).await.expect(422);
    mute(&api, &owner, &gid, &owner.id, json!(rfc3339(future))).await.expect(422);
    set_role(&api, &owner, &gid, &owner.id, "member").await.expect(422);
    api.post(&format!("/api/group/{gid}/transfer"), Some(&owner.token), json!({ "user_id": owner.id })).await.expect(422);
    for a in [
        kick(&api, &owner, &gid, &outsider.id).await,
        mute(&api, &owner, &gid, &outsider.id, json!(rfc3339(future))).await,
        set_role(&api, &owner, &gid, &outsider.id, "admin").await,
        api.post(&format!("/api/group/{gid}/transfer"), Some(&owner.token), json!({ "user_id": outsider.id })).await,
    ] {
        // The spec names no error kind for acting on a non-member, only the status.
        a.expect(404);
    }

    let a = kick(&api, &owner, &gid, &a2.id).await.expect(200);
    assert_eq!(a.data()["removed"], true);
    assert_eq!(my_role(&api, a2, &gid).await, Value::Null);

    // Transfer and dissolve: only the owner.
    for who in [a1, m1, outsider] {
        forbidden(api.post(&format!("/api/group/{gid}/transfer"), Some(&who.token), json!({ "user_id": m2.id })).await, "a non-owner transferring");
        forbidden(delete(&api, &format!("/api/group/{gid}"), Some(&who.token)).await, "a non-owner dissolving");
    }
    let t = api.post(&format!("/api/group/{gid}/transfer"), Some(&owner.token), json!({ "user_id": m1.id })).await.expect(200);
    assert_eq!(t.data()["group_id"], gid.as_str());
    assert_eq!(t.data()["owner_id"], m1.id.as_str());
    let i = info(&api, &owner, &gid).await.expect(200);
    assert_eq!(i.data()["owner_id"], m1.id.as_str());
    assert_eq!(i.data()["my_role"], "admin", "the old owner becomes admin: {}", i.body);
    assert_eq!(my_role(&api, m1, &gid).await, "owner");
    let listed = members(&api, a1, &gid, "").await;
    assert_eq!(listed.data()["members"][0]["user_id"], m1.id.as_str(), "the new owner is listed first: {}", listed.body);
    assert_eq!(find(&listed.data()["members"], "user_id", &owner.id).unwrap()["role"], "admin");

    // The old owner, now an admin, has lost the owner's rights.
    forbidden(set_role(&api, &owner, &gid, &m2.id, "admin").await, "the old owner setting a role");
    forbidden(delete(&api, &format!("/api/group/{gid}"), Some(&owner.token)).await, "the old owner dissolving");

    let d = delete(&api, &format!("/api/group/{gid}"), Some(&m1.token)).await.expect(200);
    assert_eq!(d.data()["group_id"], gid.as_str());
    assert_eq!(d.data()["dissolved"], true);
    assert_eq!(info(&api, &owner, &gid).await.expect(404).error_kind(), "not_found");
}

// ---------------------------------------------------------------------------
// Joining and inviting.

#[tokio::test]
async fn joining_a_free_group_makes_you_a_member_at_once() {
    let api = Api::new();
    let ((owner, f), joiner) = tokio::join!(owner_with_friends(&api, "free", 1), new_user(&api, "joiner"));
    let gid = create(&api, &owner, &[&f[0]], json!({ "join_policy": "free" })).await;
    assert_eq!(info(&api, &joiner, &gid).await.expect(200).data()["join_policy"], "free");
    let v0 = version(&mine(&api, &joiner, "").await);

    let joined = join(&api, &joiner, &gid, json!({})).await.expect(200);
    assert_eq!(joined.data()["status"], "joined", "{}", joined.body);
    let i = info(&api, &joiner, &gid).await.expect(200);
    assert_eq!(i.data()["my_role"], "member");
    assert_eq!(i.data()["member_count"], 3);
    let listed = members(&api, &owner, &gid, "").await;
    assert_eq!(find(&listed.data()["members"], "user_id", &joiner.id).unwrap()["role"], "member");

    let delta = mine(&api, &joiner, &format!("?since_version={v0}")).await;
    assert!(version(&delta) > v0);
    assert_eq!(group_ids(&delta), vec![gid.clone()], "{}", delta.body);
    assert_eq!(delta.data()["groups"][0]["role"], "member");

    for who in [&joiner, &f[0], &owner] {
        let a = join(&api, who, &gid, json!({})).await.expect(409);
        assert_eq!(a.error_kind(), "already_member", "{}", a.body);
    }
}

#[tokio::test]
async fn joining_an_approval_group_files_a_request_that_an_admin_approves_or_rejects() {
    let api = Api::new();
    let ((owner, f), js) = tokio::join!(owner_with_friends(&api, "appr", 1), new_users(&api, "applicant", 2));
    let admin = &f[0];
    let (j1, j2) = (&js[0], &js[1]);
    let gid = create(&api, &owner, &[admin], json!({})).await;
    set_role(&api, &owner, &gid, &admin.id, "admin").await.expect(200);

    let please = unique("please");
    let a = join(&api, j1, &gid, json!({ "message": please })).await.expect(200);
    assert_eq!(a.data()["status"], "pending", "{}", a.body);
    let r1 = a.data()["request_id"].as_str().unwrap().to_owned();
    let again = join(&api, j1, &gid, json!({})).await.expect(409);
    assert_eq!(again.error_kind(), "request_pending", "{}", again.body);
    assert_eq!(my_role(&api, j1, &gid).await, Value::Null);

    let listed = join_requests(&api, admin, &gid, "").await.expect(200);
    assert_eq!(ids(&listed.data()["requests"], "request_id"), vec![r1.clone()], "{}", listed.body);
    let r = &listed.data()["requests"][0];
    assert_eq!(r["user_id"], j1.id.as_str());
    assert_eq!(r["message"], please.as_str());
    assert_eq!(r["status"], "pending");
    assert!(r["invited_by"].is_null(), "{r}");
    assert!(!r["created_at"].is_null(), "{r}");

    let approved = api.post(&format!("/api/group/{gid}/join-requests/{r1}/approve"), Some(&admin.token), json!({})).await.expect(200);
    assert_eq!(approved.data()["request_id"], r1.as_str());
    assert_eq!(approved.data()["status"], "approved");
    assert_eq!(my_role(&api, j1, &gid).await, "member");
    assert!(group_ids(&mine(&api, j1, "").await).contains(&gid));
    assert!(member_ids(&members(&api, &owner, &gid, "").await).contains(&j1.id));
    assert_eq!(join(&api, j1, &gid, json!({})).await.expect(409).error_kind(), "already_member");

    let r2 = join(&api, j2, &gid, json!({})).await.expect(200).data()["request_id"].as_str().unwrap().to_owned();
    let rejected = api.post(&format!("/api/group/{gid}/join-requests/{r2}/reject"), Some(&owner.token), json!({})).await.expect(200);
    assert_eq!(rejected.data()["request_id"], r2.as_str());
    assert_eq!(rejected.data()["status"], "rejected");
    assert_eq!(my_role(&api, j2, &gid).await, Value::Null);
    assert!(!group_ids(&mine(&api, j2, "").await).contains(&gid));

    let pending = join_requests(&api, &owner, &gid, "?status=pending").await.expect(200);
    assert!(pending.data()["requests"].as_array().unwrap().is_empty(), "{}", pending.body);
    let all = join_requests(&api, &owner, &gid, "?status=all").await.expect(200);
    assert_eq!(find(&all.data()["requests"], "request_id", &r1).expect("r1 in all")["status"], "approved");
    assert_eq!(find(&all.data()["requests"], "request_id", &r2).expect("r2 in all")["status"], "rejected");
}

#[tokio::test]
async fn joining_a_closed_group_is_403_group_closed_and_appends_nothing() {
    let api = Api::new();
    let ((owner, f), stranger) = tokio::join!(owner_with_friends(&api, "closed", 1), new_user(&api, "knock"));
    let gid = create(&api, &owner, &[&f[0]], json!({ "join_policy": "closed" })).await;
    let marker = unique("letmein");
    let a = join(&api, &stranger, &gid, json!({ "message": marker })).await.expect(403);
    assert_eq!(a.error_kind(), "group_closed", "{}", a.body);
    assert_nothing_appended(&marker).await;
    assert_eq!(my_role(&api, &stranger, &gid).await, Value::Null);
    assert!(join_requests(&api, &owner, &gid, "?status=all").await.expect(200).data()["requests"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_members_invite_of_a_non_friend_depends_on_the_join_policy() {
    let api = Api::new();
    let users = new_users(&api, "inv", 4).await;
    let (owner, member, pal, stranger) = (&users[0], &users[1], &users[2], &users[3]);
    tokio::join!(befriend(&api, owner, member), befriend(&api, member, pal));

    // approval: the non-friend becomes a pending join request, invited by the member.
    let approval = create(&api, owner, &[member], json!({})).await;
    let a = invite(&api, member, &approval, &[stranger]).await.expect(200);
    assert_eq!(ids(&a.data()["requested"], "user_id"), vec![stranger.id.clone()], "{}", a.body);
    assert!(a.data()["added"].as_array().unwrap().is_empty(), "{}", a.body);
    assert_eq!(my_role(&api, stranger, &approval).await, Value::Null);
    let listed = join_requests(&api, owner, &approval, "").await.expect(200);
    let r = find(&listed.data()["requests"], "user_id", &stranger.id).unwrap_or_else(|| panic!("{}", listed.body));
    assert_eq!(r["invited_by"], member.id.as_str());
    assert_eq!(r["status"], "pending");
    // ... while the member's friend is added directly.
    let a = invite(&api, member, &approval, &[pal]).await.expect(200);
    assert_eq!(ids(&a.data()["added"], "user_id"), vec![pal.id.clone()], "{}", a.body);
    // Inviting a member again reports them as already a member.
    let a = invite(&api, owner, &approval, &[member]).await.expect(200);
    assert_eq!(ids(&a.data()["already_members"], "user_id"), vec![member.id.clone()], "{}", a.body);
    assert!(a.data()["added"].as_array().unwrap().is_empty(), "{}", a.body);

    // free: the non-friend is added directly.
    let free = create(&api, owner, &[member], json!({ "join_policy": "free" })).await;
    let a = invite(&api, member, &free, &[stranger]).await.expect(200);
    assert_eq!(ids(&a.data()["added"], "user_id"), vec![stranger.id.clone()], "{}", a.body);
    assert_eq!(my_role(&api, stranger, &free).await, "member");

    // closed: refused.
    let closed = create(&api, owner, &[member], json!({ "join_policy": "closed" })).await;
    invite(&api, member, &closed, &[stranger]).await.expect(403);
    assert_eq!(my_role(&api, stranger, &closed).await, Value::Null);
}

// ---------------------------------------------------------------------------
// Leaving, kicking, and the lists that follow.

#[tokio::test]
async fn the_owner_cannot_leave_but_members_can_and_the_group_leaves_their_list() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "leave", 2).await;
    let (leaver, kicked) = (&f[0], &f[1]);
    let gid = create(&api, &owner, &[leaver, kicked], json!({})).await;

    let a = api.post(&format!("/api/group/{gid}/leave"), Some(&owner.token), json!({})).await.expect(409);
    assert_eq!(a.error_kind(), "owner_must_transfer", "{}", a.body);
    assert_eq!(my_role(&api, &owner, &gid).await, "owner");

    let before = mine(&api, leaver, "").await;
    assert_eq!(group_ids(&before), vec![gid.clone()]);
    let v_leaver = version(&before);
    let v_kicked = version(&mine(&api, kicked, "").await);
    let v_members = version(&members(&api, &owner, &gid, "").await);

    let left = api.post(&format!("/api/group/{gid}/leave"), Some(&leaver.token), json!({})).await.expect(200);
    assert_eq!(left.data()["group_id"], gid.as_str());
    assert_eq!(left.data()["left"], true);
    kick(&api, &owner, &gid, &kicked.id).await.expect(200);

    for (user, v0) in [(leaver, v_leaver), (kicked, v_kicked)] {
        let full = mine(&api, user, "").await;
        assert!(group_ids(&full).is_empty(), "{}", full.body);
        assert_eq!(full.data()["removed"], json!([]));
        let delta = mine(&api, user, &format!("?since_version={v0}")).await;
        assert!(version(&delta) > v0, "{}", delta.body);
        assert!(group_ids(&delta).is_empty(), "{}", delta.body);
        assert_eq!(ids(&delta.data()["removed"], "group_id"), vec![gid.clone()], "{}", delta.body);
        assert!(delta.data()["removed"][0]["version"].as_i64().unwrap() > v0);

        assert_eq!(my_role(&api, user, &gid).await, Value::Null);
        forbidden(api.get(&format!("/api/group/{gid}/members"), Some(&user.token)).await, "a former member listing members");
    }

    let delta = members(&api, &owner, &gid, &format!("?since_version={v_members}")).await;
    assert!(version(&delta) > v_members);
    assert_eq!(sorted(ids(&delta.data()["removed"], "user_id")), sorted(vec![leaver.id.clone(), kicked.id.clone()]), "{}", delta.body);
    for r in delta.data()["removed"].as_array().unwrap() {
        assert!(r["version"].as_i64().unwrap() > v_members, "{r}");
    }
    let full = members(&api, &owner, &gid, "").await;
    assert_eq!(member_ids(&full), vec![owner.id.clone()]);
    assert_eq!(full.data()["total"], 1);
    assert_eq!(full.data()["removed"], json!([]));
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["member_count"], 1);
}

#[tokio::test]
async fn members_are_paged_owner_first_then_admins_then_members_by_join_time() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "page", 4).await;
    let gid = create(&api, &owner, &[&f[0], &f[1], &f[2]], json!({})).await;
    set_role(&api, &owner, &gid, &f[2].id, "admin").await.expect(200);
    invite(&api, &owner, &gid, &[&f[3]]).await.expect(200);

    let all = members(&api, &f[0], &gid, "").await;
    assert_eq!(all.data()["total"], 5);
    let order = member_ids(&all);
    assert_eq!(order.len(), 5, "{}", all.body);
    assert_eq!(order[0], owner.id);
    assert_eq!(order[1], f[2].id);
    assert_eq!(sorted(order[2..4].to_vec()), sorted(vec![f[0].id.clone(), f[1].id.clone()]));
    assert_eq!(order[4], f[3].id, "the latest to join comes last: {}", all.body);
    let roles: Vec<&str> = all.data()["members"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap_or("")).collect();
    assert_eq!(roles, vec!["owner", "admin", "member", "member", "member"]);

    let mut paged = Vec::new();
    for (offset, expected) in [(0, 2), (2, 2), (4, 1), (6, 0)] {
        let page = members(&api, &f[0], &gid, &format!("?offset={offset}&limit=2")).await;
        assert_eq!(page.data()["total"], 5, "total counts every member: {}", page.body);
        let got = member_ids(&page);
        assert_eq!(got.len(), expected, "offset {offset}: {}", page.body);
        paged.extend(got);
    }
    assert_eq!(paged, order, "the pages together are the whole list in order");
}

#[tokio::test]
async fn a_member_sets_and_clears_their_own_group_nickname() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "gnick", 1).await;
    let member = &f[0];
    let gid = create(&api, &owner, &[member], json!({})).await;

    let a = api.put(&format!("/api/group/{gid}/nickname"), Some(&member.token), json!({ "nickname": "Captain" })).await.expect(200);
    assert_eq!(a.data()["group_id"], gid.as_str());
    assert_eq!(a.data()["group_nickname"], "Captain");
    let listed = members(&api, &owner, &gid, "").await;
    assert_eq!(find(&listed.data()["members"], "user_id", &member.id).unwrap()["group_nickname"], "Captain");
    assert!(blank(&find(&listed.data()["members"], "user_id", &owner.id).unwrap()["group_nickname"]), "{}", listed.body);

    let a = api.put(&format!("/api/group/{gid}/nickname"), Some(&member.token), json!({ "nickname": "n".repeat(33) })).await.expect(422);
    assert_eq!(a.data()["field"], "nickname", "{}", a.body);
    api.put(&format!("/api/group/{gid}/nickname"), Some(&member.token), json!({ "nickname": "ñ".repeat(32) })).await.expect(200);

    let a = api.put(&format!("/api/group/{gid}/nickname"), Some(&member.token), json!({ "nickname": "" })).await.expect(200);
    assert!(blank(&a.data()["group_nickname"]), "{}", a.body);
    let listed = members(&api, &owner, &gid, "").await;
    assert!(blank(&find(&listed.data()["members"], "user_id", &member.id).unwrap()["group_nickname"]), "{}", listed.body);
}

#[tokio::test]
async fn groups_are_found_by_a_substring_of_their_name_or_by_their_exact_id() {
    let api = Api::new();
    let ((owner, f), seeker) = tokio::join!(owner_with_friends(&api, "gsrch", 1), new_user(&api, "seeker"));
    let name = unique("findme");
    let gid = api.post("/api/group", Some(&owner.token), json!({ "name": name, "member_ids": [f[0].id], "join_policy": "free" })).await.expect(200).data()
        ["group_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let middle = &name["findme_".len() + 2..name.len() - 2];
    let found = api.get(&format!("/api/group/search?q={middle}"), Some(&seeker.token)).await.expect(200);
    assert_eq!(group_ids(&found), vec![gid.clone()], "{}", found.body);
    let g = &found.data()["groups"][0];
    assert_eq!(g["name"], name.as_str());
    assert_eq!(g["member_count"], 2);
    assert_eq!(g["join_policy"], "free");
    assert!(g.get("avatar").is_some(), "{g}");

    let by_id = api.get(&format!("/api/group/search?q={gid}"), Some(&seeker.token)).await.expect(200);
    assert!(group_ids(&by_id).contains(&gid), "{}", by_id.body);
}

// ---------------------------------------------------------------------------
// Dissolved, unknown and malformed groups; auth.

#[tokio::test]
async fn every_call_on_a_dissolved_group_is_404() {
    let api = Api::new();
    let ((owner, f), outsider) = tokio::join!(owner_with_friends(&api, "gone", 2), new_user(&api, "gonex"));
    let (member, pal) = (&f[0], &f[1]);
    let gid = create(&api, &owner, &[member], json!({ "join_policy": "free" })).await;
    let d = delete(&api, &format!("/api/group/{gid}"), Some(&owner.token)).await.expect(200);
    assert_eq!(d.data()["dissolved"], true);

    let g = |rest: &str| format!("/api/group/{gid}{rest}");
    let rid = uuid::Uuid::new_v4();
    let until = json!(rfc3339(OffsetDateTime::now_utc() + time::Duration::hours(1)));
    let answers = vec![
        ("info (owner)", info(&api, &owner, &gid).await),
        ("info (member)", info(&api, member, &gid).await),
        ("info (outsider)", info(&api, &outsider, &gid).await),
        ("update", update(&api, &owner, &gid, json!({ "announcement": "still here?" })).await),
        ("dissolve again", delete(&api, &g(""), Some(&owner.token)).await),
        ("members", api.get(&g("/members"), Some(&owner.token)).await),
        ("invite", invite(&api, &owner, &gid, &[pal]).await),
        ("kick", kick(&api, &owner, &gid, &member.id).await),
        ("join", join(&api, &outsider, &gid, json!({})).await),
        ("join requests", join_requests(&api, &owner, &gid, "").await),
        ("approve", api.post(&g(&format!("/join-requests/{rid}/approve")), Some(&owner.token), json!({})).await),
        ("reject", api.post(&g(&format!("/join-requests/{rid}/reject")), Some(&owner.token), json!({})).await),
        ("leave", api.post(&g("/leave"), Some(&member.token), json!({})).await),
        ("role", set_role(&api, &owner, &gid, &member.id, "admin").await),
        ("transfer", api.post(&g("/transfer"), Some(&owner.token), json!({ "user_id": member.id })).await),
        ("mute", mute(&api, &owner, &gid, &member.id, until).await),
        ("mute all", api.put(&g("/mute-all"), Some(&owner.token), json!({ "muted": true })).await),
        ("nickname", api.put(&g("/nickname"), Some(&member.token), json!({ "nickname": "ghost" })).await),
    ];
    for (what, a) in answers {
        assert_eq!(a.status.as_u16(), 404, "{what} on a dissolved group: {}", a.body);
        assert_eq!(a.expect(404).error_kind(), "not_found", "{what}");
    }
    for user in [&owner, member] {
        let list = mine(&api, user, "").await;
        assert!(!group_ids(&list).contains(&gid), "a dissolved group is no longer {}'s: {}", user.name, list.body);
    }
}

#[tokio::test]
async fn outsiders_may_not_list_members_unknown_groups_are_404_and_malformed_ids_400() {
    let api = Api::new();
    let ((owner, f), outsider) = tokio::join!(owner_with_friends(&api, "gids", 1), new_user(&api, "gidsx"));
    let gid = create(&api, &owner, &[&f[0]], json!({})).await;
    forbidden(api.get(&format!("/api/group/{gid}/members"), Some(&outsider.token)).await, "an outsider listing members");

    let unknown = uuid::Uuid::new_v4().to_string();
    for a in [
        info(&api, &owner, &unknown).await,
        api.get(&format!("/api/group/{unknown}/members"), Some(&owner.token)).await,
        join(&api, &outsider, &unknown, json!({})).await,
        update(&api, &owner, &unknown, json!({ "announcement": "x" })).await,
        api.post(&format!("/api/group/{unknown}/leave"), Some(&owner.token), json!({})).await,
        delete(&api, &format!("/api/group/{unknown}"), Some(&owner.token)).await,
    ] {
        assert_eq!(a.expect(404).error_kind(), "not_found");
    }
    // An unknown user in a well-formed path is 404 as well.
    assert_eq!(kick(&api, &owner, &gid, &unknown).await.expect(404).error_kind(), "not_found");

    for a in [
        info(&api, &owner, "not-a-uuid").await,
        api.get("/api/group/not-a-uuid/members", Some(&owner.token)).await,
        join(&api, &outsider, "not-a-uuid", json!({})).await,
        delete(&api, "/api/group/not-a-uuid", Some(&owner.token)).await,
        kick(&api, &owner, &gid, "not-a-uuid").await,
        api.post(&format!("/api/group/{gid}/join-requests/not-a-uuid/approve"), Some(&owner.token), json!({})).await,
    ] {
        a.expect(400);
    }
}

#[tokio::test]
async fn group_calls_without_a_token_are_401() {
    let api = Api::new();
    let id = uuid::Uuid::new_v4();
    let g = |rest: &str| format!("/api/group/{id}{rest}");
    api.post("/api/group", None, json!({ "name": "x", "member_ids": [] })).await.expect(401);
    api.get(&g(""), None).await.expect(401);
    api.put(&g(""), None, json!({ "name": "x" })).await.expect(401);
    delete(&api, &g(""), None).await.expect(401);
    api.get("/api/group/mine", None).await.expect(401);
    api.get("/api/group/search?q=x", None).await.expect(401);
    api.get(&g("/members"), None).await.expect(401);
    api.post(&g("/members"), None, json!({ "user_ids": [] })).await.expect(401);
    api.post(&g("/join"), None, json!({})).await.expect(401);
    api.post(&g("/leave"), None, json!({})).await.expect(401);
    api.get(&g("/join-requests"), None).await.expect(401);
    api.put(&g("/mute-all"), None, json!({ "muted": true })).await.expect(401);
    api.put(&g("/nickname"), None, json!({ "nickname": "x" })).await.expect(401);
    api.post(&g("/transfer"), None, json!({ "user_id": id })).await.expect(401);
}

// ---------------------------------------------------------------------------
// Size limit.

/// A group created with `max_members: 4` (owner, one member, room for two).
#[tokio::test]
async fn an_addition_beyond_max_members_is_409_group_full_and_applies_nothing() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "full", 1).await;
    let max = 4;
    let gid = create(&api, &owner, &[&f[0]], json!({ "join_policy": "free", "max_members": max })).await;
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["max_members"], max);
    // Fill up to one free place, then try to add two.
    let extra = new_users(&api, "fullx", max as usize).await;
    befriend_all(&api, &owner, &extra.iter().collect::<Vec<_>>()).await;
    let fill: Vec<&User> = extra.iter().take(max as usize - 3).collect();
    if !fill.is_empty() {
        invite(&api, &owner, &gid, &fill).await.expect(200);
    }
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["member_count"], max - 1);
    let (x, y) = (&extra[max as usize - 2], &extra[max as usize - 1]);
    let a = invite(&api, &owner, &gid, &[x, y]).await.expect(409);
    assert_eq!(a.error_kind(), "group_full", "{}", a.body);
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["member_count"], max - 1, "nothing of the refused call is applied");
    assert_eq!(my_role(&api, x, &gid).await, Value::Null);
    assert_eq!(my_role(&api, y, &gid).await, Value::Null);

    invite(&api, &owner, &gid, &[x]).await.expect(200);
    assert_eq!(info(&api, &owner, &gid).await.expect(200).data()["member_count"], max);
    let a = join(&api, y, &gid, json!({})).await.expect(409);
    assert_eq!(a.error_kind(), "group_full", "{}", a.body);
}

#[tokio::test]
async fn a_group_limit_outside_two_to_the_server_limit_is_422() {
    let api = Api::new();
    let (owner, _) = owner_with_friends(&api, "limit", 0).await;
    for bad in [json!(1), json!(2001), json!("many")] {
        let a = api.post("/api/group", Some(&owner.token), json!({ "name": unique("lim"), "member_ids": [], "max_members": bad })).await.expect(422);
        assert!(a.body["message"].as_str().unwrap().contains("max_members"), "{}", a.body);
    }
}
