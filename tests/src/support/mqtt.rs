//! MQTT: the bridge (`civicproof ingest mqtt`) as an OS process, a broker of a test's own
//! (`mosquitto`, for restarts), and a QoS 1 publisher that returns once the broker has
//! acknowledged every message.
//!
//! Tests on the shared broker (127.0.0.1:1883, `MQTT_PORT` to change) keep to topics and
//! client ids of their own, so they run side by side.

use super::app::TestApp;
use super::db::uuid_like;
use super::process::civicproof_command;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shared broker's port.
pub fn shared_broker_port() -> u16 {
    std::env::var("MQTT_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1883)
}

/// A name no other test uses (topic prefixes, client ids).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_like()[..12])
}

/// `civicproof ingest mqtt --config <file>` as an OS process.
pub struct Bridge {
    pub config: PathBuf,
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Bridge {
    pub fn start(config: &Path) -> Self {
        let mut b = Self {
            config: config.to_owned(),
            child: None,
            log: config.with_extension(format!("{}.log", uuid_like())),
        };
        b.start_again();
        b
    }

    /// Starts the process again (after [`Self::kill9`]) with the same configuration.
    pub fn start_again(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = civicproof_command()
            .env("RUST_LOG", "info")
            .args(["ingest", "mqtt", "--config"])
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("civicproof ingest mqtt");
        self.child = Some(child);
    }

    /// SIGKILL: whatever it had committed but not acknowledged, the broker sends again.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and the clean exit (0) it must make: unacknowledged messages stay with the
    /// broker.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "the bridge exited with {status} on SIGTERM:\n{}",
                    self.log()
                );
                return;
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "the bridge did not exit within 10 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it exited, with its code.
    pub fn exited(&mut self) -> Option<i32> {
        let c = self.child.as_mut()?;
        c.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!("bridge log {}:\n{}", self.log.display(), self.log());
        }
    }
}

/// Writes the bridge's token file and configuration (the `[server]` and `[broker]` tables
/// from `app`, `token` and `broker_port`; `rest` is appended: `[ingest]` and mappings).
pub fn bridge_config(
    app: &TestApp,
    token: &str,
    broker_port: u16,
    client_id: &str,
    rest: &str,
) -> PathBuf {
    let dir = app.config.log_key_file.parent().unwrap().to_owned();
    let dir = if dir.as_os_str().is_empty() {
        std::env::temp_dir()
    } else {
        dir
    };
    let token_file = dir.join(format!("{client_id}.token"));
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let config = dir.join(format!("{client_id}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nurl = \"{}\"\ntoken_file = \"{}\"\n\n[broker]\nurl = \"mqtt://127.0.0.1:{broker_port}\"\nclient_id = \"{client_id}\"\nkeep_alive_secs = 5\n\n{rest}",
            app.base,
            token_file.display()
        ),
    )
    .unwrap();
    config
}

/// Publishes every message with QoS 1 over one connection and returns once the broker has
/// acknowledged them all.
pub async fn publish_all(port: u16, messages: &[(String, Vec<u8>)]) {
    publish_all_with(port, messages, rumqttc::QoS::AtLeastOnce).await
}

/// Publishes every message with `qos` over one connection and returns once the broker has
/// acknowledged them all (QoS 1), or once all are written and the connection closed (QoS 0:
/// no flow control, which is what a bridge's memory bound is for).
pub async fn publish_all_with(port: u16, messages: &[(String, Vec<u8>)], qos: rumqttc::QoS) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet};
    let mut opts = MqttOptions::new(unique("pub"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(4 << 20, 4 << 20)
        .set_inflight(100);
    let (client, mut events) = AsyncClient::new(opts, 1000);
    let to_send: Vec<(String, Vec<u8>)> = messages.to_vec();
    let sender = tokio::spawn(async move {
        for (topic, payload) in to_send {
            client.publish(topic, qos, false, payload).await.unwrap();
        }
        client
    });
    let (mut sent, mut acked) = (0usize, 0usize);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while acked < messages.len() || sent < messages.len() {
        let ev = tokio::time::timeout_at(deadline, events.poll())
            .await
            .expect("the broker acknowledged every message in time")
            .expect("publisher connection");
        match ev {
            Event::Outgoing(Outgoing::Publish(_)) => {
                sent += 1;
                if qos == rumqttc::QoS::AtMostOnce {
                    acked += 1;
                }
            }
            Event::Incoming(Packet::PubAck(_)) => acked += 1,
            _ => {}
        }
    }
    let client = sender.await.unwrap();
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while events.poll().await.is_ok() {}
    })
    .await;
}

/// A mosquitto of a test's own on a free port, persisting to its own directory, so a test
/// can restart it without disturbing the shared broker.
pub struct PrivateBroker {
    pub port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateBroker {
    pub async fn start() -> Self {
        Self::start_with(|_| String::new()).await
    }

    /// A broker that takes only TLS connections with a client certificate of its test CA and
    /// a username and password (`bridge`/`secret`). The PEM files are `tls_file("ca.crt")`,
    /// `"client.crt"`, `"client.key"`; the password is in `tls_file("password")`.
    pub async fn start_tls() -> Self {
        Self::start_with(|dir| {
            make_test_pki(dir);
            let passwd = dir.join("passwd");
            let status = std::process::Command::new("mosquitto_passwd")
                .args(["-b", "-c"])
                .arg(&passwd)
                .args(["bridge", "secret"])
                .status()
                .expect("mosquitto_passwd (apt-get install mosquitto)");
            assert!(status.success(), "mosquitto_passwd failed");
            std::fs::write(dir.join("password"), "secret\n").unwrap();
            format!(
                "cafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
                 require_certificate true\npassword_file {d}/passwd\nallow_anonymous false\n",
                d = dir.display()
            )
        })
        .await
    }

    /// A file of the broker's directory (its test PKI, for a TLS broker).
    pub fn tls_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    async fn start_with(listener_options: impl FnOnce(&Path) -> String) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(unique("mosquitto"));
        std::fs::create_dir_all(&dir).unwrap();
        // Started as root, mosquitto drops to its own user, which must write here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let options = listener_options(&dir);
        let anonymous = if options.contains("allow_anonymous") {
            ""
        } else {
            "allow_anonymous true\n"
        };
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\n{options}{anonymous}persistence true\npersistence_location {}/\nautosave_interval 1\nmax_inflight_messages 1000\nmax_queued_messages 1000000\nlog_dest file {}/mosquitto.log\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let mut b = Self {
            port,
            dir,
            child: None,
        };
        b.start_again().await;
        b
    }

    pub async fn start_again(&mut self) {
        let child = std::process::Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto (apt-get install mosquitto)");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("mosquitto did not start on {}", self.port);
    }

    /// SIGTERM: mosquitto writes its persistence file and exits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate, made with the
/// openssl command (P-256 keys, valid two days).
fn make_test_pki(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &key,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=civicproof test CA",
            ],
        ]
        .concat(),
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let (k, csr, crt, e) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        openssl(
            &[
                &["req"][..],
                &key,
                &["-keyout", &k, "-out", &csr, "-subj", &format!("/CN={name}")],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &e,
        ]);
    }
}

fn mosquitto_binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("mosquitto")
}
