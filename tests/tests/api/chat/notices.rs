//! System notices of group changes.

use super::*;

#[tokio::test]
async fn group_changes_post_system_notices_that_members_read_but_are_never_unread() {
    let api = Api::new();
    let ((owner, f), extra) = tokio::join!(owner_with_friends(&api, "notice", 2), new_user(&api, "noticex"));
    befriend(&api, &owner, &extra).await;
    let (gid, conv) = create_group(&api, &owner, &[&f[0], &f[1]]).await;
    api.post(&format!("/api/group/{gid}/members"), Some(&owner.token), json!({ "user_ids": [extra.id] })).await.expect(200);
    set_role(&api, &owner, &gid, &f[0], "admin").await;
    api.post(&format!("/api/group/{gid}/leave"), Some(&f[1].token), json!({})).await.expect(200);

    let list = history(&api, &extra, &conv).await;
    let events: Vec<&str> = list.iter().map(|m| m["content"]["event"].as_str().unwrap_or("?")).collect();
    assert_eq!(events, vec!["group_created", "members_added", "role_changed", "member_left"], "{list:?}");
    for m in &list {
        assert_eq!(m["type"], "system", "{m}");
        assert_eq!(m["sender_id"], "00000000-0000-0000-0000-000000000000", "{m}");
    }
    assert_eq!(sorted(ids(&list[0]["content"]["user_ids"], "user_id")), sorted(vec![f[0].id.clone(), f[1].id.clone()]));
    assert_eq!(ids(&list[1]["content"]["user_ids"], "user_id"), vec![extra.id.clone()]);
    assert_eq!(list[2]["content"]["role"], "admin");
    assert_eq!(seqs(&list), vec![1, 2, 3, 4], "notices take seqs like any message");
    let e = entry(&api, &extra, &conv).await;
    assert_eq!((int(&e, "max_seq"), int(&e, "unread")), (4, 0), "notices are never unread: {e}");
}
