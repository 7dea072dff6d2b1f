//! A projector rebuilt from offset 0 into an empty database produces the
//! same rows as the live read model.

use crate::{
    helpers::{database_url, eventually, unique, Api},
    readmodel_state::{chat_state, rows, FreshDatabase},
};
use serde_json::json;
use sqlx::{Connection, MySqlConnection};
use std::time::{Duration, Instant};

/// Runs one `beaver-admin` command line in this process (an operator's action).
async fn admin(args: &[&str]) {
    use clap::Parser;
    let mut argv = vec!["beaver-admin", "--operator", "replay-test", "--brokers"];
    let brokers = crate::helpers::brokers();
    let database = database_url();
    argv.push(&brokers);
    argv.extend(["--database-url", &database]);
    argv.extend(args);
    let code = beaver_admin::run(beaver_admin::Cli::parse_from(&argv)).await.unwrap_or_else(|e| panic!("beaver-admin {args:?}: {e:#}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS, "beaver-admin {args:?}");
}

/// A user's settings changed twice, and a file stored, one aborted and one
/// deleted: `(user id, file ids)`.
async fn settings_and_files(api: &Api) -> (String, Vec<String>) {
    let (user, token, _) = api.signed_up(&unique("replayset")).await;
    api.call(reqwest::Method::PATCH, "/api/user/settings", Some(&token), Some(json!({ "privacy": { "show_online": false }, "client": { "theme": "dark" } })))
        .await
        .expect(200);
    api.call(reqwest::Method::PATCH, "/api/user/settings", Some(&token), Some(json!({ "privacy": { "friend_requests": "nobody" } }))).await.expect(200);
    let mut files = Vec::new();
    for (i, end) in ["complete", "abort", "delete"].into_iter().enumerate() {
        let bytes = format!("replayed file {i} {}", unique("bytes")).into_bytes();
        let a = api.post("/api/file/uploads", Some(&token), json!({ "name": format!("f{i}.txt"), "size": bytes.len(), "purpose": "chat" })).await.expect(201);
        let id = a.data()["file_id"].as_str().unwrap().to_owned();
        api.send(api.raw(reqwest::Method::PUT, &format!("/api/file/uploads/{id}/parts/1")).bearer_auth(&token).body(bytes)).await.expect(200);
        match end {
            "abort" => {
                api.call(reqwest::Method::DELETE, &format!("/api/file/uploads/{id}"), Some(&token), None).await.expect(200);
            }
            _ => {
                api.post(&format!("/api/file/uploads/{id}/complete"), Some(&token), json!({})).await.expect(200);
                if end == "delete" {
                    api.call(reqwest::Method::DELETE, &format!("/api/file/{id}"), Some(&token), None).await.expect(200);
                }
            }
        }
        files.push(id);
    }
    // Emoji: a favourite of the stored image, a pack, collected then deleted.
    let picture = crate::files::png(8, 8);
    let a = api.post("/api/file/uploads", Some(&token), json!({ "name": "e.png", "size": picture.len(), "purpose": "emoji" })).await.expect(201);
    let image = a.data()["file_id"].as_str().unwrap().to_owned();
    api.send(api.raw(reqwest::Method::PUT, &format!("/api/file/uploads/{image}/parts/1")).bearer_auth(&token).body(picture)).await.expect(200);
    api.post(&format!("/api/file/uploads/{image}/complete"), Some(&token), json!({})).await.expect(200);
    api.post("/api/emoji/favorites", Some(&token), json!({ "file_id": image, "title": "dot" })).await.expect(200);
    for title in ["Kept", "Deleted"] {
        let pack = api.post("/api/emoji/packs", Some(&token), json!({ "title": title, "items": [{ "file_id": image }] })).await.expect(200);
        let pack_id = pack.data()["pack_id"].as_str().unwrap().to_owned();
        api.call(reqwest::Method::PUT, &format!("/api/emoji/packs/{pack_id}/collect"), Some(&token), None).await.expect(200);
        if title == "Deleted" {
            api.call(reqwest::Method::DELETE, &format!("/api/emoji/packs/{pack_id}"), Some(&token), None).await.expect(200);
        }
    }
    (user, files)
}

/// Feedback answered by an operator, a release rolled out and withdrawn, and
/// an announcement: `(feedback ids, app id, announcement ids)`.
async fn service_history(api: &Api) -> (Vec<String>, String, Vec<String>) {
    let (_, token, _) = api.signed_up(&unique("replayfb")).await;
    let mut feedback = Vec::new();
    for text in ["it crashed", "dark mode please"] {
        let a = api.post("/api/feedback", Some(&token), json!({ "category": "bug", "text": text, "client": { "platform": "ios" } })).await.expect(201);
        feedback.push(a.data()["feedback_id"].as_str().unwrap().to_owned());
    }
    admin(&["feedback", "status", &feedback[0], "resolved", "--reply", "fixed in 2.1"]).await;
    let app = unique("replayapp").to_lowercase();
    let sha = "ab".repeat(32);
    for (version, rollout) in [("1.0.0", "100"), ("1.1.0", "10")] {
        let url = format!("https://dl.example/{app}-{version}");
        admin(&["release", "publish", "--app", &app, "--platform", "ios", "--version", version, "--url", &url, "--sha256", &sha, "--size", "100", "--rollout", rollout]).await;
    }
    // The release's state is read back by the next decision: wait for the projection.
    let answered = eventually(Duration::from_secs(10), || async { (rows(&database_url(), RELEASES_SQL, std::slice::from_ref(&app)).await.len() == 2).then_some(()) }).await;
    assert!(answered.is_some(), "the releases were not projected");
    admin(&["release", "rollout", &app, "ios", "1.1.0", "50"]).await;
    admin(&["release", "withdraw", &app, "ios", "1.0.0"]).await;
    let title = unique("replay-announcement");
    // For a platform no test socket uses (ws-push knows ios, android, web and
    // desktop): other tests running meanwhile must not get an unexpected frame.
    admin(&["announce", "--title", &title, "--body", "hello", "--platforms", "mac"]).await;
    let (_, token, _) = api.signed_up(&unique("replayann")).await;
    let listed = eventually(Duration::from_secs(10), || async {
        let a = api.get("/api/system/announcements", Some(&token)).await.expect(200);
        a.data()["announcements"].as_array().unwrap().iter().find(|x| x["title"] == title.as_str()).map(|x| x["announcement_id"].as_str().unwrap().to_owned())
    })
    .await
    .expect("the announcement is listed");
    (feedback, app, vec![listed])
}

const FEEDBACK_SQL: &str = "SELECT * FROM feedback WHERE feedback_id = ?";
const RELEASES_SQL: &str = "SELECT * FROM app_releases WHERE app_id = ? ORDER BY version";
const ANNOUNCEMENTS_SQL: &str = "SELECT * FROM announcements WHERE announcement_id = ?";

/// Members of each Redis set, sorted.
async fn redis_sets(url: &str, keys: &[String]) -> Vec<Vec<String>> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut out = Vec::new();
    for key in keys {
        let mut members: Vec<String> = redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await.unwrap();
        members.sort();
        out.push(members);
    }
    out
}

/// Row versions may be numbered in another order when events of different
/// partitions interleave differently, so relation and group rows are compared
/// without them; the per-owner list versions (how many changes each list saw)
/// must match exactly.
const SOCIAL_QUERIES: &[(&str, &str)] = &[
    ("users", "SELECT user_id, friend_id, remark, status, since, updated_at FROM friendships WHERE user_id = ? ORDER BY friend_id"),
    ("users", "SELECT user_id, blocked_user_id, status, blocked_at, updated_at FROM blocks WHERE user_id = ? ORDER BY blocked_user_id"),
    ("users", "SELECT request_id, from_user_id, to_user_id, message, status, hidden_from_recipient, created_at, updated_at FROM friend_requests WHERE from_user_id = ? ORDER BY request_id"),
    ("users", "SELECT owner_id, list, version FROM sync_versions WHERE owner_id = ? ORDER BY list"),
    ("group", "SELECT group_id, conversation_id, name, avatar, announcement, owner_id, join_policy, members_can_invite, mute_all, max_members, member_count, status, created_at, updated_at FROM chat_groups WHERE group_id = ?"),
    ("group", "SELECT group_id, user_id, role, group_nickname, muted_until, status, joined_at, updated_at FROM group_members WHERE group_id = ? ORDER BY user_id"),
    ("group", "SELECT request_id, group_id, user_id, message, invited_by, status, created_at, updated_at FROM group_join_requests WHERE group_id = ? ORDER BY request_id"),
    ("group", "SELECT owner_id, list, version FROM sync_versions WHERE owner_id = ? ORDER BY list"),
];

/// A conversation history: messages, an edit, a recall, reactions, reads,
/// a delete-for-me, a clear and settings. Returns the conversation ids.
async fn chat_history(api: &Api) -> (Vec<String>, Vec<String>) {
    let mut users = Vec::new();
    for i in 0..3 {
        let (id, token, _) = api.signed_up(&unique(&format!("chat{i}"))).await;
        users.push((id, token));
    }
    let [(a, ta), (b, tb), (c, tc)] = [users[0].clone(), users[1].clone(), users[2].clone()];
    for (x, tx, y, ty) in [(&a, &ta, &b, &tb), (&a, &ta, &c, &tc)] {
        let r = api.post("/api/friend/requests", Some(tx), json!({ "to_user_id": y })).await.expect(200);
        let rid = r.data()["request_id"].as_str().unwrap().to_owned();
        api.post(&format!("/api/friend/requests/{rid}/accept"), Some(ty), json!({})).await.expect(200);
        let _ = x;
    }
    let send = |token: &str, target: serde_json::Value, text: &str| {
        let mut body = target;
        body["client_msg_id"] = json!(unique("c"));
        body["type"] = json!("text");
        body["content"] = json!({ "text": text });
        let (api, token) = (api.clone(), token.to_owned());
        async move { api.post("/api/chat/send", Some(&token), body).await.expect(200).data().clone() }
    };
    let m1 = send(&ta, json!({ "to_user_id": b }), "one").await;
    let direct = m1["conversation_id"].as_str().unwrap().to_owned();
    let m2 = send(&tb, json!({ "conversation_id": direct }), "two").await;
    send(&ta, json!({ "to_user_id": b }), "three").await;
    let g = api.post("/api/group", Some(&ta), json!({ "name": unique("chatgroup"), "member_ids": [b, c] })).await.expect(200);
    let group = g.data()["conversation_id"].as_str().unwrap().to_owned();
    let g1 = send(&tc, json!({ "conversation_id": group }), "hello group").await;
    send(&tb, json!({ "conversation_id": group }), "hi").await;
    let m1_id = m1["message_id"].as_str().unwrap();
    let m2_id = m2["message_id"].as_str().unwrap();
    let g1_id = g1["message_id"].as_str().unwrap();
    api.put(&format!("/api/chat/messages/{m1_id}"), Some(&ta), json!({ "content": { "text": "one (edited)" } })).await.expect(200);
    api.post(&format!("/api/chat/messages/{m2_id}/recall"), Some(&tb), json!({})).await.expect(200);
    api.post(&format!("/api/chat/messages/{g1_id}/reactions"), Some(&ta), json!({ "emoji": "👍" })).await.expect(200);
    api.post(&format!("/api/chat/messages/{g1_id}/reactions"), Some(&tb), json!({ "emoji": "🎉" })).await.expect(200);
    api.put("/api/chat/read", Some(&tb), json!({ "conversation_id": direct, "seq": 3 })).await.expect(200);
    api.put("/api/chat/read", Some(&ta), json!({ "conversation_id": group, "seq": 1 })).await.expect(200);
    api.call(reqwest::Method::DELETE, &format!("/api/chat/messages/{g1_id}"), Some(&tb), None).await.expect(200);
    api.post(&format!("/api/chat/conversations/{direct}/clear"), Some(&ta), json!({})).await.expect(200);
    api.put(&format!("/api/chat/conversations/{group}/settings"), Some(&tc), json!({ "pinned": true, "muted": true })).await.expect(200);
    (vec![direct, group], vec![a, b, c])
}

async fn social_state(db: &str, redis_url: &str, users: &[String], group: &str) -> Vec<Vec<Vec<String>>> {
    let mut state = Vec::new();
    for (owner, sql) in SOCIAL_QUERIES {
        let ids = if *owner == "users" { users.to_vec() } else { vec![group.to_owned()] };
        state.push(rows(db, sql, &ids).await);
    }
    let mut keys: Vec<String> = users.iter().flat_map(|u| [format!("beaver:friends:{u}"), format!("beaver:blocks:{u}")]).collect();
    keys.push(format!("beaver:group:{group}:members"));
    state.push(redis_sets(redis_url, &keys).await);
    state
}

/// A little social history among three fresh users; returns their ids and the group id.
/// Inbox history (docs/services.md, "Notifications"): friend requests and an
/// acceptance, two join requests coalesced into one item, a read, a
/// deletion and a push token. Returns the users whose inboxes to compare.
async fn notification_history(api: &Api) -> Vec<String> {
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(api.signed_up(&unique(&format!("inbox{i}"))).await);
    }
    let [(x, tx, _), (y, ty, _), (z, tz, _), (_, tw, _)] = [users[0].clone(), users[1].clone(), users[2].clone(), users[3].clone()];
    let req = api.post("/api/friend/requests", Some(&tx), json!({ "to_user_id": y, "message": "hi" })).await.expect(200);
    let rid = req.data()["request_id"].as_str().unwrap().to_owned();
    api.post("/api/friend/requests", Some(&tz), json!({ "to_user_id": y })).await.expect(200);
    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&ty), json!({})).await.expect(200);
    let g = api.post("/api/group", Some(&ty), json!({ "name": unique("inboxgroup"), "member_ids": [x], "join_policy": "approval" })).await.expect(200);
    let gid = g.data()["group_id"].as_str().unwrap().to_owned();
    for t in [&tz, &tw] {
        api.post(&format!("/api/group/{gid}/join"), Some(t), json!({ "message": "me too" })).await.expect(200);
    }
    // The notifier works after the answers: wait for y's two items (two requests, one coalesced join request).
    let inbox = eventually(Duration::from_secs(10), || async {
        let page = api.get("/api/notification", Some(&ty)).await.expect(200);
        let items = page.data()["items"].as_array().cloned().unwrap_or_default();
        let merged = items.iter().any(|i| i["kind"] == "join_request" && i["actor_count"] == 2);
        (items.len() == 3 && merged).then_some(items)
    })
    .await
    .expect("y's inbox: two friend requests and one join request of two actors");
    api.post("/api/notification/read", Some(&ty), json!({ "category": "social" })).await.expect(200);
    let from_z = inbox.iter().find(|i| i["kind"] == "friend_request" && i["actors"][0] == z.as_str()).unwrap()["notification_id"].as_str().unwrap().to_owned();
    api.call(reqwest::Method::DELETE, &format!("/api/notification/{from_z}"), Some(&ty), None).await.expect(200);
    api.post("/api/notification/push-tokens", Some(&ty), json!({ "device_id": "replay-phone", "platform": "fcm", "token": "tok-1" })).await.expect(200);
    vec![x, y]
}

/// Moments history (docs/services.md, "Moments"): a friendship, moments of
/// each visibility, a like and a comment, a friendship that starts after the
/// moments (backfill) and one that ends (rows removed both ways), a deleted
/// moment. The timeline index must come out the same whatever order the
/// replay interleaves the moments and relations topics in. Returns the users.
async fn moment_history(api: &Api) -> Vec<String> {
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(api.signed_up(&unique(&format!("feed{i}"))).await);
    }
    let [(p, tp, _), (q, tq, _), (r, tr, _)] = [users[0].clone(), users[1].clone(), users[2].clone()];
    let befriend = |from: String, token: String, to: String, to_token: String| async move {
        let req = api.post("/api/friend/requests", Some(&token), json!({ "to_user_id": to })).await.expect(200);
        let rid = req.data()["request_id"].as_str().unwrap().to_owned();
        api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&to_token), json!({})).await.expect(200);
        let _ = from;
    };
    befriend(p.clone(), tp.clone(), q.clone(), tq.clone()).await;
    let mut moments = Vec::new();
    for body in [
        json!({ "text": "to all friends" }),
        json!({ "text": "only me", "visibility": "private" }),
        json!({ "text": "all but q", "visibility": "except", "users": [q] }),
        json!({ "text": "only q", "visibility": "selected", "users": [q] }),
        json!({ "text": "deleted later" }),
    ] {
        let m = api.post("/api/moment", Some(&tp), body).await.expect(201);
        moments.push(m.data()["moment_id"].as_str().unwrap().to_owned());
    }
    api.call(reqwest::Method::PUT, &format!("/api/moment/{}/like", moments[0]), Some(&tq), None).await.expect(200);
    api.post(&format!("/api/moment/{}/comments", moments[0]), Some(&tq), json!({ "text": "nice" })).await.expect(201);
    api.call(reqwest::Method::DELETE, &format!("/api/moment/{}", moments[4]), Some(&tp), None).await.expect(200);
    befriend(r.clone(), tr.clone(), p.clone(), tp.clone()).await;
    api.post("/api/moment", Some(&tq), json!({ "text": "q's own" })).await.expect(201);
    api.delete_friend(&tp, &q).await;
    vec![p, q, r]
}

/// Calls history (docs/services.md, "Calls"): a completed call, a declined
/// one and a cancelled one between two friends. Returns the call ids.
async fn call_history(api: &Api) -> Vec<String> {
    let (p, tp, _) = api.signed_up(&unique("ring0")).await;
    let (q, tq, _) = api.signed_up(&unique("ring1")).await;
    let req = api.post("/api/friend/requests", Some(&tp), json!({ "to_user_id": q })).await.expect(200);
    let rid = req.data()["request_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&tq), json!({})).await.expect(200);
    let (a, b) = if p < q { (&p, &q) } else { (&q, &p) };
    let conv = format!("direct:{a}:{b}");
    let mut calls = Vec::new();
    for ending in ["hangup", "decline", "cancel"] {
        let started = api.post("/api/call", Some(&tp), json!({ "conversation_id": conv, "media": "audio", "device_id": "replay-p" })).await.expect(201);
        let id = started.data()["call_id"].as_str().unwrap().to_owned();
        match ending {
            "hangup" => {
                api.post(&format!("/api/call/{id}/accept"), Some(&tq), json!({ "device_id": "replay-q" })).await.expect(200);
                api.post(&format!("/api/call/{id}/hangup"), Some(&tq), json!({})).await.expect(200);
            }
            "decline" => {
                api.post(&format!("/api/call/{id}/decline"), Some(&tq), json!({})).await.expect(200);
            }
            _ => {
                api.post(&format!("/api/call/{id}/cancel"), Some(&tp), json!({})).await.expect(200);
            }
        }
        calls.push(id);
    }
    calls
}

async fn social_history(api: &Api) -> (Vec<String>, String) {
    let mut users = Vec::new();
    for i in 0..3 {
        let (id, token, _) = api.signed_up(&unique(&format!("social{i}"))).await;
        users.push((id, token));
    }
    let [(a, ta), (b, tb), (c, tc)] = [users[0].clone(), users[1].clone(), users[2].clone()];
    let req = api.post("/api/friend/requests", Some(&ta), json!({ "to_user_id": b, "message": "hello" })).await.expect(200);
    let rid = req.data()["request_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&tb), json!({})).await.expect(200);
    api.put(&format!("/api/friend/{b}/remark"), Some(&ta), json!({ "remark": "Bee" })).await.expect(200);
    api.post("/api/friend/requests", Some(&tc), json!({ "to_user_id": b })).await.expect(200);
    api.post("/api/friend/blocks", Some(&ta), json!({ "user_id": c })).await.expect(200);
    let g = api.post("/api/group", Some(&ta), json!({ "name": unique("replaygroup"), "member_ids": [b], "join_policy": "free" })).await.expect(200);
    let gid = g.data()["group_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/group/{gid}/join"), Some(&tc), json!({})).await.expect(200);
    api.put(&format!("/api/group/{gid}/members/{b}/role"), Some(&ta), json!({ "role": "admin" })).await.expect(200);
    api.put(&format!("/api/group/{gid}"), Some(&tb), json!({ "name": unique("renamed") })).await.expect(200);
    api.put(&format!("/api/group/{gid}/members/{c}/mute"), Some(&tb), json!({ "until": "2999-01-01T00:00:00Z" })).await.expect(200);
    api.post(&format!("/api/group/{gid}/leave"), Some(&tc), json!({})).await.expect(200);
    api.delete_friend(&ta, &b).await;
    (vec![a, b, c], gid)
}

#[tokio::test]
async fn replaying_the_topics_from_offset_zero_with_two_instances_rebuilds_identical_rows() {
    // Some history: registrations, a profile change, a refresh and a logout,
    // then friends, a block, a group and its changes.
    let api = Api::new();
    let (social_users, group) = social_history(&api).await;
    let (conversations, chatters) = chat_history(&api).await;
    let (feedback, app, announcements) = service_history(&api).await;
    let (settings_user, files) = settings_and_files(&api).await;
    let inbox_users = notification_history(&api).await;
    let feed_users = moment_history(&api).await;
    let calls = call_history(&api).await;
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
    let live_redis = std::env::var("BEAVER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let live_social = social_state(&live, &live_redis, &social_users, &group).await;
    assert!(!live_social[0].is_empty() && !live_social[5].is_empty(), "the history must have produced rows");
    let live_chat = chat_state(&live, &live_redis, &conversations, &chatters).await;
    let user_messages = live_chat[1].iter().filter(|m| m[5] != "system").count();
    assert_eq!(user_messages, 5, "five messages besides the group's notices: {:?}", live_chat[1]);
    let services = |db: String| {
        let (feedback, app, announcements) = (feedback.clone(), app.clone(), announcements.clone());
        let (settings_user, files, inbox_users, feed_users, calls) = (settings_user.clone(), files.clone(), inbox_users.clone(), feed_users.clone(), calls.clone());
        async move {
            vec![
                rows(&db, FEEDBACK_SQL, &feedback).await,
                rows(&db, RELEASES_SQL, &[app]).await,
                rows(&db, ANNOUNCEMENTS_SQL, &announcements).await,
                rows(&db, "SELECT * FROM user_settings WHERE user_id = ?", std::slice::from_ref(&settings_user)).await,
                rows(&db, "SELECT * FROM files WHERE file_id = ?", &files).await,
                rows(&db, "SELECT * FROM emoji_favorites WHERE user_id = ?", std::slice::from_ref(&settings_user)).await,
                rows(&db, "SELECT * FROM emoji_pack_collections WHERE user_id = ? ORDER BY pack_id", std::slice::from_ref(&settings_user)).await,
                rows(&db, "SELECT p.*, i.* FROM emoji_packs p JOIN emoji_pack_items i ON i.pack_id = p.pack_id WHERE p.owner_id = ? ORDER BY p.pack_id", std::slice::from_ref(&settings_user)).await,
                rows(&db, "SELECT owner_id, list, version FROM sync_versions WHERE owner_id = ? AND list LIKE 'emoji%' ORDER BY list", std::slice::from_ref(&settings_user)).await,
                rows(&db, "SELECT * FROM notifications WHERE user_id = ? ORDER BY position", &inbox_users).await,
                rows(&db, "SELECT user_id, device_id, session_id, platform, token_hash, registered_at FROM push_tokens WHERE user_id = ?", &inbox_users).await,
                rows(&db, "SELECT owner_id, list, version FROM sync_versions WHERE owner_id = ? AND list = 'notifications'", &inbox_users).await,
                rows(&db, "SELECT * FROM moments WHERE author_id = ? ORDER BY moment_id", &feed_users).await,
                rows(&db, "SELECT * FROM moment_timeline WHERE viewer_id = ? ORDER BY moment_id", &feed_users).await,
                rows(&db, "SELECT l.* FROM moment_likes l JOIN moments m ON m.moment_id = l.moment_id WHERE m.author_id = ? ORDER BY l.user_id", &feed_users).await,
                rows(&db, "SELECT c.* FROM moment_comments c JOIN moments m ON m.moment_id = c.moment_id WHERE m.author_id = ? ORDER BY c.comment_id", &feed_users).await,
                rows(&db, "SELECT * FROM moment_pairs WHERE user_id = ? ORDER BY other_id", &feed_users).await,
                rows(&db, "SELECT * FROM calls WHERE call_id = ?", &calls).await,
                rows(&db, "SELECT * FROM call_participants WHERE call_id = ? ORDER BY user_id", &calls).await,
            ]
        }
    };
    let live_services = eventually(Duration::from_secs(10), || async {
        let s = services(live.clone()).await;
        // The operator's answer, the rollout and the withdrawal are projected.
        let done = s[0].iter().any(|r| r.iter().any(|c| c == "resolved")) && s[1].len() == 2 && s[1].iter().any(|r| r.iter().any(|c| c == "50"));
        // x: friend_accepted, added; y: two friend requests (read, one deleted: rows stay), the join request; one token.
        let done = done && s[9].len() == 5 && s[10].len() == 1;
        // p's five moments and q's one; the index: p sees 5 - 1 deleted, q lost p's at the unfriending,
        // r was backfilled p's visible ones (friends, except) -> 4 + 1 + 2; one like, one comment.
        let done = done && s[12].len() == 6 && s[13].len() == 7 && s[14].len() == 1 && s[15].len() == 1;
        // Three calls, all ended, two participants each.
        let done = done && s[17].len() == 3 && s[17].iter().all(|r| r.iter().any(|c| c == "ended")) && s[18].len() == 6;
        done.then_some(s)
    })
    .await
    .expect("the services' history is projected");
    assert_eq!((live_services[0].len(), live_services[2].len(), live_services[3].len(), live_services[4].len()), (2, 1, 1, 3));
    assert_eq!((live_services[5].len(), live_services[6].len(), live_services[7].len(), live_services[8].len()), (1, 2, 2, 2), "{live_services:?}");
    let statuses: Vec<bool> = ["stored", "aborted", "deleted"].iter().map(|s| live_services[4].iter().any(|r| r.iter().any(|c| c == s))).collect();
    assert_eq!(statuses, [true, true, true], "{:?}", live_services[4]);

    // A fresh database and consumer group: the projector starts at offset 0.
    let db = FreshDatabase::create(&live, unique("beaver_replay")).await;
    let fresh = db.url.clone();
    let config = beaver_projectors::Config {
        common: beaver_platform::config::Common {
            database_url: fresh.as_str().into(),
            kafka_brokers: crate::helpers::brokers(),
            // Its own Redis database, so the rebuild cannot disturb the live sets.
            redis_url: format!("{live_redis}/1").into(),
            ..Default::default()
        },
        group_prefix: format!("{}-", unique("replay")),
        // Not the live read model: its offsets must not wake live read-your-writes waiters.
        publish_progress: false,
        // No workers: they would append to the live topics.
        workers: String::new(),
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

    let rebuilt = until_rebuilt(&fresh, || async {
        let u = rows(&fresh, USERS_SQL, &users).await;
        let s = rows(&fresh, SESSIONS_SQL, &sessions).await;
        let social = social_state(&fresh, &format!("{live_redis}/1"), &social_users, &group).await;
        let chat = chat_state(&fresh, &format!("{live_redis}/1"), &conversations, &chatters).await;
        let svc = services(fresh.clone()).await;
        u == live_users && s == live_sessions && social == live_social && chat == live_chat && svc == live_services
    })
    .await;
    let (u, s) = (rows(&fresh, USERS_SQL, &users).await, rows(&fresh, SESSIONS_SQL, &sessions).await);
    let social = social_state(&fresh, &format!("{live_redis}/1"), &social_users, &group).await;
    let chat = chat_state(&fresh, &format!("{live_redis}/1"), &conversations, &chatters).await;
    let svc = services(fresh.clone()).await;
    stop.send(true).unwrap();
    for instance in instances {
        instance.await.unwrap().unwrap();
    }
    db.drop().await;
    assert!(
        rebuilt.is_ok(),
        "rebuild differs ({}):\nlive users {live_users:?}\nrebuilt    {u:?}\nlive sessions {live_sessions:?}\nrebuilt       {s:?}\nlive social {live_social:?}\nrebuilt     {social:?}\nlive chat {live_chat:?}\nrebuilt   {chat:?}\nlive services {live_services:?}\nrebuilt       {svc:?}",
        rebuilt.err().unwrap_or_default()
    );
}

/// How far a rebuild has read: the sum of the next offsets it stored with
/// its rows (every projection, topic and partition).
async fn read_so_far(db: &str) -> i64 {
    let mut conn = MySqlConnection::connect(db).await.unwrap();
    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(next_offset), 0) AS SIGNED) FROM projector_offsets").fetch_one(&mut conn).await.unwrap()
}

/// Waits until `matches`. The replay reads every topic from offset 0, so its
/// length grows with the stack's whole history (benchmark runs, earlier test
/// runs: a fixed 60 s failed on a stack holding 150k benchmark messages, and
/// passed on a fresh one). So the wait lasts while the rebuild still moves:
/// it fails once the stored offsets have not grown for 20 s (the rebuild has
/// read everything, or is stuck) and the rows still differ, or after 10
/// minutes in all.
async fn until_rebuilt<F, Fut>(fresh: &str, matches: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let (mut read, mut moved) = (read_so_far(fresh).await, Instant::now());
    loop {
        if matches().await {
            return Ok(());
        }
        let now_read = read_so_far(fresh).await;
        if now_read > read {
            (read, moved) = (now_read, Instant::now());
        }
        if moved.elapsed() > Duration::from_secs(20) {
            return Err(format!("the rebuild stopped reading at offset sum {read}, {} s in", started.elapsed().as_secs()));
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("still reading after {} s (offset sum {read})", started.elapsed().as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
