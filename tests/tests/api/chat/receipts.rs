//! Receipts.

use super::*;

#[tokio::test]
async fn a_direct_receipt_is_the_peers_read_cursor() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "rcpt").await;
    let conv = direct_id(&ann, &bob);
    for t in ["a", "b", "c"] {
        sent(&api, &ann, text_to(&bob, t)).await;
    }
    let r = receipts(&api, &ann, &conv, 3).await.expect(200);
    assert_eq!(cursor(r.data(), "peer_read_seq"), 0, "bob has read nothing: {}", r.body);

    mark_read(&api, &bob, &conv, 2).await.expect(200);
    let r = receipts(&api, &ann, &conv, 3).await.expect(200);
    assert_eq!(int(r.data(), "peer_read_seq"), 2, "{}", r.body);
    let r = receipts(&api, &bob, &conv, 1).await.expect(200);
    assert_eq!(int(r.data(), "peer_read_seq"), 3, "ann's cursor moved with her sends: {}", r.body);
    // a direct receipt needs no seq (docs/chat.md)
    let r = api.get(&format!("/api/chat/receipts?conversation_id={conv}"), Some(&ann.token)).await.expect(200);
    assert_eq!(int(r.data(), "peer_read_seq"), 2, "{}", r.body);
}

#[tokio::test]
async fn a_group_receipt_counts_the_members_who_read_up_to_a_message() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "grcpt", 3).await;
    let (m1, m2, m3) = (&f[0], &f[1], &f[2]);
    let (_, conv) = create_group(&api, &owner, &[m1, m2, m3]).await;
    let base = notices_before(&api, &owner, &conv).await;
    let first = seq(&sent(&api, &owner, text_in(&conv, "first")).await);
    let second = seq(&sent(&api, &owner, text_in(&conv, "second")).await);
    assert_eq!((first, second), (base + 1, base + 2));

    let r = receipts(&api, &owner, &conv, first).await.expect(200);
    assert_eq!(int(r.data(), "read_count"), 0, "nobody read yet; the sender does not count: {}", r.body);
    let no_seq = api.get(&format!("/api/chat/receipts?conversation_id={conv}"), Some(&owner.token)).await;
    assert_eq!((no_seq.status.as_u16(), no_seq.error_kind()), (422, "invalid_field"), "a group receipt names its message: {}", no_seq.body);
    assert_eq!(no_seq.body["data"]["field"], "seq", "{}", no_seq.body);
    assert!(ids(&r.data()["readers"], "user_id").is_empty(), "{}", r.body);

    mark_read(&api, m1, &conv, second).await.expect(200);
    mark_read(&api, m2, &conv, first).await.expect(200);

    let r = receipts(&api, &owner, &conv, second).await.expect(200);
    assert_eq!(int(r.data(), "read_count"), 1, "{}", r.body);
    assert_eq!(ids(&r.data()["readers"], "user_id"), vec![m1.id.clone()], "{}", r.body);
    let r = receipts(&api, &owner, &conv, first).await.expect(200);
    assert_eq!(int(r.data(), "read_count"), 2, "{}", r.body);
    assert_eq!(sorted(ids(&r.data()["readers"], "user_id")), sorted(vec![m1.id.clone(), m2.id.clone()]), "the sender is not a reader: {}", r.body);
}
