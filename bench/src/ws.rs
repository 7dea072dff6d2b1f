//! WebSocket clients, shared by `idle`, `latency` and `fanout`.

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};
use tokio::{net::TcpSocket, sync::watch};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig, Message};

/// Both ws-push nodes of `deploy/up`.
pub(crate) const DEFAULT_NODES: &str = "ws://127.0.0.1:21083/ws,ws://127.0.0.1:21183/ws";


pub(crate) type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Handshakes in flight at once while ramping up.
pub(crate) const IN_FLIGHT: usize = 256;
/// A connection not ready (handshake and `ready` frame) within this counts as failed.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const PING: &str = r#"{"type":"ping"}"#;

/// Small buffers, so that many client connections cost little (tungstenite's default is 128 KiB each).
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(4096)
}

/// A ws-push node as given on the command line, its address resolved once.
pub(crate) struct Node {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
}

pub(crate) async fn resolve_nodes(urls: &[String]) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for url in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let uri: tungstenite::http::Uri = url.parse().with_context(|| format!("Failed to parse node URL {url}"))?;
        let host = uri.host().with_context(|| format!("no host in {url}"))?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port)).await?.next().with_context(|| format!("Failed to resolve {url}"))?;
        nodes.push(Node { url: url.to_owned(), addr });
    }
    if nodes.is_empty() {
        bail!("--nodes names no node");
    }
    Ok(nodes)
}

/// Lets a socket bound to an address share source ports across destinations:
/// the port is chosen at connect time by the full 4-tuple, as without a bind.
pub(crate) fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a live socket descriptor and an option value of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

pub(crate) fn handshake_error(e: tungstenite::Error) -> anyhow::Error {
    match e {
        tungstenite::Error::Http(resp) => {
            let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            anyhow!("handshake refused: {} {body}", resp.status())
        }
        e => anyhow!("handshake: {e}"),
    }
}

/// Opens a WebSocket to `node` (from `local` when given), authenticated by
/// the query, and waits for its `ready` frame.
pub(crate) async fn open_ws(node: &Node, query: &str, local: Option<IpAddr>) -> Result<Ws> {
    let sep = if node.url.contains('?') { '&' } else { '?' };
    let request = format!("{}{sep}{query}", node.url).into_client_request()?;
    let socket = if node.addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = local {
        bind_address_no_port(&socket);
        socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("bind {ip}"))?;
    }
    let tcp = socket.connect(node.addr).await.context("connect")?;
    tcp.set_nodelay(true)?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config())).await.map_err(handshake_error)?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<Value>(&t)?["type"].as_str() {
                Some("ready") => return Ok(ws),
                Some("error" | "kick") => bail!("refused: {t}"),
                _ => {}
            },
            Some(Ok(Message::Close(f))) => bail!("closed before ready: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("before ready: {e}"),
            None => bail!("closed before ready"),
        }
    }
}

/// How a held connection ended.
pub(crate) enum Ended {
    /// We closed it when told to; `Err` says why the close was not clean
    /// (the server did not answer it with its own close frame in time).
    ByUs(Result<(), String>),
    /// It ended on its own: the server closed it or the socket broke.
    Dropped(String),
}

/// Keeps a connection open: answers the server's pings (tungstenite does),
/// sends `{"type":"ping"}` every `heartbeat` starting after `first_ping`, hands
/// every text frame to `on_text`, and closes cleanly when `stop` changes.
pub(crate) async fn hold_connection(mut ws: Ws, heartbeat: Duration, first_ping: Duration, mut stop: watch::Receiver<bool>, mut on_text: impl FnMut(&str)) -> Ended {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + first_ping, heartbeat);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let closed = tokio::time::timeout(Duration::from_secs(5), async {
                    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
                    while let Some(m) = ws.next().await {
                        m.map_err(|e| format!("after close: {e}"))?;
                    }
                    Ok(())
                })
                .await;
                return Ended::ByUs(closed.unwrap_or_else(|_| Err("no close answer within 5 s".into())));
            }
            _ = ping.tick() => {
                if let Err(e) = ws.send(Message::text(PING)).await {
                    return Ended::Dropped(format!("ping failed: {e}"));
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => on_text(&t),
                Some(Ok(Message::Close(f))) => return Ended::Dropped(format!("closed by the server: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Dropped(e.to_string()),
                None => return Ended::Dropped("connection ended".into()),
            }
        }
    }
}

/// Spreads connections' first heartbeats over the period (golden-ratio sequence).
pub(crate) fn jitter(i: usize, period: Duration) -> Duration {
    period.mul_f64((i as f64 * 0.618_033_988_749_895).fract())
}
