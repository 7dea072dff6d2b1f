//! Slow consumers.

use super::*;

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_the_other_connections_keep_receiving() {
    // 96 messages of 8000 bytes: ~800 KB, well over the 256 KiB queue plus
    // the 64 KiB socket buffer (and a 4 KiB receive buffer on the slow side).
    const N: usize = 96;
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsslow", 2).await;
    let (fast_user, slow_user) = (&f[0], &f[1]);
    let (_, conv) = create_group(&api, &owner, &[fast_user, slow_user], json!({})).await;
    let fast = dial(1, fast_user, "web").await;
    let mut slow = connect_slow(1, &slow_user.token, &device(), "web").await;

    let fast_conv = conv.clone();
    let fast_task = tokio::spawn(async move {
        let mut fast = fast;
        let got = fast.collect_messages_where(&fast_conv, N, not_system, Duration::from_secs(90)).await;
        (fast, got)
    });
    let filler = "x".repeat(7996);
    let answers: Vec<Value> =
        futures::stream::iter(0..N).map(|i| sent(&api, &owner, text_in(&conv, &format!("{i:04}{filler}")))).buffer_unordered(6).collect().await;
    let mut want = seqs(&answers);
    want.sort();

    let (mut fast, got) = fast_task.await.unwrap();
    assert_eq!(seqs(&got), want, "the fast connection gets every message, in seq order");
    assert!(got.iter().all(|m| m["content"]["text"].as_str().is_some_and(|t| t.len() == 8000)));
    fast.ping("fast-alive").await;

    // Only now is the slow connection read: it ends before everything arrived.
    let code = slow.expect_close(Duration::from_secs(30)).await;
    assert!(matches!(code, Some(4008) | None), "a slow consumer is closed with 4008 (or its TCP connection ends), got {code:?}");
    let slow_got: Vec<Value> = slow
        .take_backlog()
        .into_iter()
        .filter(|f| f["type"] == "message" && f["data"]["conversation_id"] == conv.as_str() && not_system(&f["data"]))
        .map(|f| f["data"].clone())
        .collect();
    assert!(slow_got.len() < N, "the slow consumer was not cut off: it got all {N} messages");
    assert_eq!(seqs(&slow_got), want[..slow_got.len()].to_vec(), "what the slow consumer got is a gap-free prefix");

    // It reconnects (to node 1, which the fast connection showed has every
    // message) and syncs the rest.
    let mut again = dial(1, slow_user, "web").await;
    let from = slow_got.last().map_or(want[0] - 1, seq);
    let (rest, done) = sync(&mut again, "resync", json!({ conv.clone(): from })).await;
    let rest: Vec<Value> = rest.into_iter().filter(not_system).collect();
    assert_eq!(seqs(&rest), want[slow_got.len()..].to_vec(), "the sync brings the rest");
    assert_eq!(done["data"]["conversations"][&conv]["has_more"], false, "{done}");
}
