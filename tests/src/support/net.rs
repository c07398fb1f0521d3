//! Network faults: a TCP partition between one process and a service.

/// A TCP forwarder to a local port that can be cut (every connection dropped, new ones
/// refused) and restored: a network partition between one process and a service.
pub struct TcpCut {
    pub port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mute: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpCut {
    pub async fn start(upstream_port: u16) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mute = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, m, list) = (cut.clone(), mute.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let mute = m.clone();
                let task = tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    let (mut down_r, mut down_w) = down.into_split();
                    let (mut up_r, mut up_w) = up.into_split();
                    let to_up = async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match down_r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if mute.load(Ordering::SeqCst) {
                                continue; // swallowed
                            }
                            if up_w.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let to_down = async move {
                        let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
                    };
                    tokio::select! {
                        () = to_up => {}
                        () = to_down => {}
                    }
                });
                list.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            port,
            cut,
            mute,
            conns,
            accept,
        }
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Drops every connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
        self.mute.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, what the client sends is swallowed (until [`Self::restore`]); what the
    /// server sends still arrives. For the MQTT bridge: messages come, acknowledgements are lost.
    pub fn mute_client(&self) {
        self.mute.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
