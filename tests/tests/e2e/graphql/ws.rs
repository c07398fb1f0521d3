//! A `graphql-transport-ws` client.

use crate::support::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A `graphql-transport-ws` client.
pub(crate) struct Ws {
    pub(crate) stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    pub(crate) async fn open(app: &TestApp) -> Self {
        let url = format!("{}/graphql", app.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (stream, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        Self { stream }
    }

    /// Opens and initializes a connection (with a token, if given).
    pub(crate) async fn connect(app: &TestApp, token: Option<&str>) -> Self {
        let mut ws = Self::open(app).await;
        let payload = match token {
            Some(t) => json!({"Authorization": format!("Bearer {t}")}),
            None => json!({}),
        };
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(ws.recv().await.unwrap()["type"], "connection_ack");
        ws
    }

    pub(crate) async fn send(&mut self, msg: Value) {
        self.stream
            .send(Message::text(msg.to_string()))
            .await
            .unwrap();
    }

    /// The next protocol message (answering pings), or `None` once the server closed. Fails
    /// when none comes within 15 s: WebSocket pings keep a stalled socket busy, so the
    /// deadline is for the next protocol message, not the next frame.
    pub(crate) async fn recv(&mut self) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a protocol message within 15 s")?;
            match msg.ok()? {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "ping" {
                        self.send(json!({"type": "pong"})).await;
                        continue;
                    }
                    return Some(v);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    pub(crate) async fn subscribe(&mut self, id: &str, dataset: &str, after_seq: Option<u64>) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {
            "query": "subscription($d: String!, $a: Seq) { recordPublished(institution: \"city\", dataset: $d, afterSeq: $a) { seq kind key payload leafHash erases } }",
            "variables": {"d": dataset, "a": after_seq},
        }}))
        .await;
    }

    /// Reads until the server closes; its close code, and the messages before it.
    pub(crate) async fn until_closed(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(15), self.stream.next())
                .await
                .expect("closed within 15 s");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    before.push(serde_json::from_str(t.as_str()).unwrap())
                }
                Some(Ok(Message::Close(frame))) => {
                    return (frame.map(|f| u16::from(f.code)), before);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (None, before),
            }
        }
    }

    /// Sends a query or mutation as operation `id` and returns its first answer.
    pub(crate) async fn operation(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            .await;
        loop {
            let msg = self.recv().await.expect("connection open");
            if msg["id"] == id {
                return msg;
            }
        }
    }

    /// The next `n` records of subscription `id`.
    pub(crate) async fn records(&mut self, id: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            let msg = self.recv().await.expect("connection open");
            assert_eq!(msg["id"], id, "{msg}");
            assert_eq!(msg["type"], "next", "{msg}");
            assert!(msg["payload"].get("errors").is_none(), "{msg}");
            out.push(msg["payload"]["data"]["recordPublished"].clone());
        }
        out
    }
}
