//! What one WebSocket connection may cost the node: expensive frames spend a
//! per-connection budget (refused with a `rate_limited` error frame when it
//! is spent), an oversized message sent in fragments is closed with 1009, and
//! a client that never finishes its HTTP request head is cut off.

use crate::friends::new_user;
use crate::helpers::Api;
use crate::ws::{connect, node_url, WAIT};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{
    protocol::frame::{
        coding::{Data, OpCode},
        Frame,
    },
    Message,
};

#[tokio::test]
async fn flooding_sync_frames_is_refused_with_a_rate_limited_error_and_the_connection_stays_usable() {
    let api = Api::new();
    let ann = new_user(&api, "wsflood").await;
    let mut ws = connect(1, &ann.token, "flood-1", "web").await;
    // 200 conversations per frame: the default budget (100/s, 400 saved) pays for two at once, not ten.
    let conversations: serde_json::Map<String, serde_json::Value> =
        (0..200).map(|i| (format!("direct:{}:{:032x}", ann.id, i), json!(0))).collect();
    for i in 0..10 {
        ws.send_json(json!({ "type": "sync", "id": format!("s{i}"), "data": { "conversations": conversations } })).await;
    }
    let refused = ws.expect_where("error", |d| d["kind"] == "rate_limited", WAIT).await["data"].clone();
    assert_eq!(refused["code"], 429, "{refused}");
    assert!(refused["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{refused}");
    // Cheap frames still work.
    ws.ping("still-here").await;
}

#[tokio::test]
async fn a_message_over_the_limit_sent_in_fragments_is_closed_with_1009() {
    let api = Api::new();
    let ann = new_user(&api, "wsfrag").await;
    let mut ws = connect(1, &ann.token, "frag-1", "web").await;
    // 1 MiB as 32 fragments of 32 KiB: each fragment is under the 64 KiB frame limit, the message is not.
    let chunk = vec![b'x'; 32 * 1024];
    for i in 0..32 {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        if ws.send_raw(Message::Frame(Frame::message(chunk.clone(), opcode, i == 31))).await.is_err() {
            break; // the server closed while we wrote
        }
    }
    let code = ws.expect_close(WAIT).await;
    assert_eq!(code, Some(1009), "an oversized fragmented message must end with close 1009, not a reset");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_on_a_node_port_is_cut_off() {
    let url = node_url(1);
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap().to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    // The node's deadline is 10 s; a node without one keeps the socket open for ever.
    let mut buf = [0u8; 512];
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "a half-sent request head kept the connection open for 30 s");
}
