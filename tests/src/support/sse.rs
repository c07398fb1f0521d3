//! A Server-Sent Events client.

use super::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// A Server-Sent Events client over a streaming response.
pub struct Sse {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: Vec<u8>,
    /// Comment lines seen (heartbeats).
    pub comments: usize,
}

impl Sse {
    /// Opens `path` with these extra headers and checks the response head.
    pub async fn open(
        app: &TestApp,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Self {
        let mut rb = app.request(Method::GET, path, token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let mut sse = Self {
            stream: Box::pin(r.bytes_stream()),
            buf: Vec::new(),
            comments: 0,
        };
        // The preamble (`retry:` and a comment) says the stream is live: entries appended
        // from now on are delivered.
        sse.wait_for_comment().await;
        sse
    }

    async fn fill(&mut self) -> Option<()> {
        let chunk = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            futures_util::StreamExt::next(&mut self.stream),
        )
        .await
        .expect("an event within 30 s")?
        .ok()?;
        self.buf.extend_from_slice(&chunk);
        Some(())
    }

    /// The next raw block (up to a blank line), or `None` at the end of the stream.
    async fn block(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..i + 2).collect();
                return Some(String::from_utf8(block[..i].to_vec()).unwrap());
            }
            self.fill().await?;
        }
    }

    /// Reads until the next comment line (a heartbeat), skipping events.
    pub async fn wait_for_comment(&mut self) {
        loop {
            let b = self.block().await.expect("stream open");
            if b.lines().any(|l| l.starts_with(':')) {
                self.comments += 1;
                return;
            }
        }
    }

    /// The next event (skipping comments and `retry:`), or `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            let block = self.block().await?;
            let mut ev = SseEvent {
                id: None,
                event: None,
                data: String::new(),
            };
            let mut any = false;
            for line in block.lines() {
                if line.starts_with(':') {
                    self.comments += 1;
                    continue;
                }
                let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                match field {
                    "id" => {
                        ev.id = Some(value.to_owned());
                        any = true
                    }
                    "event" => {
                        ev.event = Some(value.to_owned());
                        any = true
                    }
                    "data" => {
                        ev.data.push_str(value);
                        any = true
                    }
                    _ => {}
                }
            }
            if any {
                return Some(ev);
            }
        }
    }

    /// The next `n` entries as (seq, record as read), asserting the event format.
    pub async fn entries(&mut self, n: usize) -> Vec<(u64, Value)> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let ev = self.next().await.expect("stream open");
            assert_eq!(ev.event.as_deref(), Some("entry"), "{ev:?}");
            let seq: u64 = ev.id.as_deref().unwrap().parse().unwrap();
            out.push((seq, serde_json::from_str(&ev.data).unwrap()));
        }
        out
    }
}
