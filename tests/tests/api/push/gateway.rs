//! Through the gateway.

use super::*;

#[tokio::test]
async fn the_gateway_carries_websocket_connections_to_the_nodes() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsgw").await;
    let conv = direct_id(&ann, &bob);
    let mut bob_ws = dial(GATEWAY, &bob, "web").await;
    let mut ann_ws = connect_first_frame(GATEWAY, &ann.token, &device(), "ios").await;
    assert_eq!(ann_ws.ready["user_id"], ann.id.as_str());

    ann_ws.ping("gw").await;
    ann_ws.send_json(send_frame("gw-send", text_to(&bob, "through the gateway"))).await;
    let ack = ann_ws.expect_where_frame("ack", |f| f["id"] == "gw-send", WAIT).await;
    let got = bob_ws.collect_messages(&conv, 1, WAIT).await;
    assert_message(&got[0], &ack["data"], &ann, "through the gateway");

    bob_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    let t = ann_ws.expect("typing", WAIT).await;
    assert_eq!(t["data"]["user_id"], bob.id.as_str(), "{t}");

    let (status, body) = refused_handshake(&query_url(GATEWAY, "not-a-token", &device(), "web")).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = refused_handshake(&query_url(GATEWAY, &ann.token, &device(), "linux")).await;
    assert_eq!(status, 422, "{body}");
}
