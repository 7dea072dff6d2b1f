//! ws-push nodes started inside the test (`beaver_ws_push::run` on port 0)
//! with settings the deployed nodes do not have — a 2 s heartbeat timeout,
//! tiny queues — against the same Kafka, MariaDB and Redis.

use crate::{
    friends::{befriend, new_user},
    helpers::{brokers, database_url, Api},
};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Starts a node; returns its ws URL and a handle that stops it when dropped.
async fn node(tune: impl FnOnce(&mut beaver_ws_push::Config)) -> (String, u16, tokio::sync::oneshot::Sender<()>) {
    let mut config = beaver_ws_push::Config {
        node_id: format!("test-{}", uuid::Uuid::new_v4().simple()),
        common: beaver_platform::config::Common {
            kafka_brokers: brokers(),
            database_url: database_url().into(),
            redis_url: std::env::var("BEAVER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()).into(),
            jwt_secret_file: std::env::var("BEAVER_JWT_SECRET_FILE").unwrap_or_default(),
            ..Default::default()
        },
        ..Default::default()
    };
    tune(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(beaver_ws_push::run(config, listener, async move {
        let _ = stopped.await;
    }));
    // Healthy once it tails Kafka.
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(&health).await.map(|r| r.status().is_success()).unwrap_or(false) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the test node never became healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (format!("ws://127.0.0.1:{port}/ws"), port, stop)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, token: &str, device: &str) -> Socket {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?token={token}&device_id={device}&platform=web")).await.unwrap();
    let ready = next_text(&mut ws).await.expect("a ready frame");
    assert_eq!(ready["type"], "ready");
    ws
}

async fn next_text(ws: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.ok()?? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Reads until the socket closes; the close code, if a close frame came.
async fn close_code(ws: &mut Socket, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("the connection was not closed within {within:?}"),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_heartbeat_timeout_while_a_pinging_one_stays() {
    let (url, _, _stop) = node(|c| {
        c.heartbeat_timeout_secs = 2;
        c.server_ping_secs = 60;
    })
    .await;
    let api = Api::new();
    let (quiet, chatty) = (new_user(&api, "quiet").await, new_user(&api, "chatty").await);
    let mut silent = connect(&url, &quiet.token, "q1").await;
    let mut alive = connect(&url, &chatty.token, "c1").await;
    let started = tokio::time::Instant::now();
    // The pinging client keeps its connection for longer than the timeout.
    for i in 0..5 {
        alive.send(Message::Text(json!({ "type": "ping", "id": format!("p{i}") }).to_string().into())).await.unwrap();
        let pong = next_text(&mut alive).await.expect("a pong");
        assert_eq!((pong["type"].as_str(), pong["id"].as_str()), (Some("pong"), Some(format!("p{i}").as_str())));
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    assert_eq!(close_code(&mut silent, Duration::from_secs(5)).await, Some(4002));
    assert!(started.elapsed() >= Duration::from_millis(1900), "closed before the timeout: {:?}", started.elapsed());
    alive.send(Message::Text(json!({ "type": "ping", "id": "last" }).to_string().into())).await.unwrap();
    assert_eq!(next_text(&mut alive).await.expect("still served")["type"], "pong");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_with_resync_and_its_peer_keeps_receiving() {
    let (url, port, _stop) = node(|c| {
        c.queue_max_frames = 8;
        c.socket_send_buffer = 4096;
    })
    .await;
    let api = Api::new();
    let (sender, reader) = (new_user(&api, "snd").await, new_user(&api, "rdr").await);
    befriend(&api, &sender, &reader).await;
    // The stuck client: a tiny receive buffer, never read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(format!("{url}?token={}&device_id=stuck&platform=desktop", reader.token), stream).await.unwrap();
    let mut fast = connect(&url, &reader.token, "fast").await;
    let n = 40;
    let reading = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while seqs.len() < n {
            let f = next_text(&mut fast).await.expect("the fast client keeps receiving");
            if f["type"] == "message" {
                seqs.push(f["data"]["seq"].as_i64().unwrap());
            }
        }
        seqs
    });
    let text = "y".repeat(8000);
    for i in 0..n {
        let body = json!({ "to_user_id": reader.id, "client_msg_id": format!("slow-{i}"), "type": "text", "content": { "text": text } });
        api.call(reqwest::Method::POST, "/api/chat/send", Some(&sender.token), Some(body)).await.expect(200);
    }
    assert_eq!(reading.await.unwrap(), (1..=n as i64).collect::<Vec<_>>());
    // Now read the stuck one: it ends before having everything.
    let mut got = 0;
    let mut code = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stuck.next()).await.expect("the stuck connection must end") {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"message\"") => got += 1,
            Some(Ok(Message::Close(f))) => {
                code = f.map(|f| u16::from(f.code));
                break;
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => break,
        }
    }
    assert!(got < n, "the stuck client got all {n} messages: it was never cut off");
    assert!(code.is_none() || code == Some(4008), "closed with {code:?}, not resync");
}
