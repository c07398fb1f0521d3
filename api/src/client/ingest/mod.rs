//! `civicproof ingest mqtt`: a bridge from an MQTT broker into datasets, exactly once and in
//! order per topic.
//!
//! It is a client of the publish API holding one publisher token, like `civicproof publish`:
//! no admin rights, the same validation, limits and rate limits as any publisher, and it runs
//! where the broker is. Running it inside the server instead would have every replica fight
//! over one persistent MQTT session.
//!
//! How a message travels (docs/USING.md has the operator's view):
//! 1. the session (`session.rs`, persistent, acknowledged by hand) delivers it;
//! 2. the bridge matches its topic to a mapping, names it with a dedup key (`transform.rs`)
//!    and hands it to its dataset's lane for its topic (`lane.rs`), or to the dead-letter lane
//!    when it is not a record the log can take (`deadletter.rs`);
//! 3. the lane appends it in a batch; the server skips records whose dedup key it holds
//!    (a redelivery), so a message sent twice is one record;
//! 4. once committed, the bridge acknowledges it to the broker, in arrival order (MQTT
//!    3.1.1 section 4.6), and only on the connection it arrived on.
//!
//! What is not acknowledged stays with the broker: a bridge, server or network that fails at
//! any step costs a redelivery, never a lost or doubled record.

mod budget;
pub mod config;
mod deadletter;
mod lane;
mod metrics;
mod session;
pub mod topic;
pub mod transform;

use config::{Config, DatasetRef, Retained};
use lane::{Api, Done, Fatal, Item, Lane};
use metrics::Metrics;
use session::{AckHandle, Seen, Session};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use super::Failure;

#[derive(clap::Args)]
pub struct IngestArgs {
    #[command(subcommand)]
    pub source: IngestSource,
}

#[derive(clap::Subcommand)]
pub enum IngestSource {
    /// Subscribe to an MQTT broker and append its messages to datasets, as a configuration
    /// file maps topics to datasets (docs/USING.md, "Ingesting over MQTT").
    Mqtt {
        /// The bridge's configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Check the configuration and the server (datasets, token) and exit.
        #[arg(long)]
        check: bool,
    },
}

pub fn run(args: &IngestArgs) -> Result<(), Failure> {
    let IngestSource::Mqtt { config, check } = &args.source;
    let config = config::load(config).map_err(Failure::Usage)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let api = Arc::new(Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| Failure::Usage(e.to_string()))?,
            base: config.server_url.clone(),
            token: config.token.clone(),
        });
        preflight(&api, &config).await?;
        if *check {
            eprintln!("civicproof ingest: the configuration and the server are ready");
            return Ok(());
        }
        bridge(config, api).await
    })
}

/// Checks before connecting: the token is a publisher of the mappings' institution and not
/// the admin, every mapped dataset exists for it, and the dead-letter dataset exists
/// (created restricted when missing).
async fn preflight(api: &Api, config: &Config) -> Result<(), Failure> {
    let base = api.base.as_str().trim_end_matches('/').to_owned();
    let get = |path: String| {
        let url = format!("{base}{path}");
        async move {
            api.http
                .get(&url)
                .bearer_auth(&api.token)
                .send()
                .await
                .map(|r| r.status())
                .map_err(|e| Failure::Unavailable(format!("{url}: {e}")))
        }
    };
    if get("/v1/admin/tokens".into()).await?.is_success() {
        return Err(Failure::Usage(
            "server.token_file holds an admin token: give the bridge a publisher token of the institution".into(),
        ));
    }
    let inst = &config.dead_letters.institution;
    let status = get(format!("/v1/institutions/{inst}/tokens")).await?;
    if !status.is_success() {
        return Err(Failure::Usage(format!(
            "the token is not a publisher token of {inst:?} (GET /v1/institutions/{inst}/tokens answered {status})"
        )));
    }
    let mut datasets: Vec<&DatasetRef> = config.mappings.iter().map(|m| &m.dataset).collect();
    datasets.sort();
    datasets.dedup();
    for ds in datasets {
        let status = get(format!("/v1/datasets/{}/{}", ds.institution, ds.dataset)).await?;
        if !status.is_success() {
            return Err(Failure::Usage(format!(
                "dataset {ds} answered {status}: create it first (civicproof publish needs it too)"
            )));
        }
    }
    let dl = &config.dead_letters;
    let status = get(format!("/v1/datasets/{}/{}", dl.institution, dl.dataset)).await?;
    if status == reqwest::StatusCode::NOT_FOUND {
        let created = api
            .http
            .post(format!("{base}/v1/datasets"))
            .bearer_auth(&api.token)
            .json(&serde_json::json!({
                "slug": dl.dataset,
                "title": "Ingest errors",
                "description": "Messages the MQTT bridge could not append, with the reason (civicproof ingest mqtt).",
                "license": "other-closed",
                "access": "restricted",
            }))
            .send()
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        if !created.status().is_success() {
            let status = created.status();
            let body = created.text().await.unwrap_or_default();
            return Err(Failure::Usage(format!(
                "cannot create the dead-letter dataset {dl}: {status} {body}"
            )));
        }
        tracing::info!(dataset = %dl, "created the dead-letter dataset (restricted)");
    } else if !status.is_success() {
        return Err(Failure::Usage(format!(
            "dead-letter dataset {dl} answered {status}"
        )));
    } else {
        // Dead letters copy raw messages, which may hold what was never meant to be public.
        let view: serde_json::Value = api
            .http
            .get(format!(
                "{base}/v1/datasets/{}/{}",
                dl.institution, dl.dataset
            ))
            .bearer_auth(&api.token)
            .send()
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        if view["access"] != "restricted" {
            return Err(Failure::Usage(format!(
                "the dead-letter dataset {dl} must be restricted: dead letters copy the messages as they arrived"
            )));
        }
    }
    Ok(())
}

/// A received message waiting for its acknowledgement.
struct Pending {
    ordinal: u64,
    ack: AckHandle,
    done: bool,
}

/// Acknowledgements in arrival order, for the current connection only.
struct Acks {
    epoch: u64,
    next_ordinal: u64,
    queue: VecDeque<Pending>,
}

impl Acks {
    fn receive(&mut self, ack: AckHandle) -> u64 {
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        self.queue.push_back(Pending {
            ordinal,
            ack,
            done: false,
        });
        ordinal
    }

    fn mark(&mut self, ordinal: u64) {
        if let Some(front) = self.queue.front().map(|p| p.ordinal)
            && ordinal >= front
            && let Some(p) = self.queue.get_mut((ordinal - front) as usize)
        {
            p.done = true;
        }
    }

    /// The longest done prefix, removed.
    fn ready(&mut self) -> Vec<AckHandle> {
        let mut out = Vec::new();
        while self.queue.front().is_some_and(|p| p.done) {
            out.push(self.queue.pop_front().expect("front").ack);
        }
        out
    }

    /// A lost connection: its packet ids mean nothing on the next one, and the broker will
    /// send its unacknowledged messages again.
    fn reset(&mut self) {
        self.epoch += 1;
        self.queue.clear();
    }
}

async fn bridge(config: Config, api: Arc<Api>) -> Result<(), Failure> {
    let metrics = Metrics::new();
    if let Some(bind) = config.metrics_bind {
        metrics::serve(bind, metrics.clone())
            .await
            .map_err(|e| Failure::Usage(format!("ingest.metrics_bind {bind}: {e}")))?;
    }
    let budget = budget::Budget::new(config.max_pending_bytes);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let (fatal_tx, mut fatal_rx) = mpsc::unbounded_channel::<Fatal>();
    let lane = |dataset: DatasetRef, dead: Option<mpsc::UnboundedSender<Item>>| {
        let (tx, rx) = mpsc::unbounded_channel();
        let filters: Vec<&str> = config
            .mappings
            .iter()
            .filter(|m| m.dataset == dataset)
            .map(|m| m.filter.as_str())
            .collect();
        let source = if filters.is_empty() {
            "dead letters".to_owned()
        } else {
            let mut s = filters.join(" ");
            s.retain(|c| (' '..='~').contains(&c));
            s.chars().take(256).collect()
        };
        let lane = Lane {
            source,
            dataset,
            api: api.clone(),
            batch_records: config.batch_records,
            linger: config.batch_linger,
            done: done_tx.clone(),
            fatal: fatal_tx.clone(),
            dead_letters: dead,
            metrics: metrics.clone(),
        };
        tokio::spawn(lane.run(rx));
        tx
    };
    let dead_tx = lane(config.dead_letters.clone(), None);
    // Lanes per dataset, chosen by a hash of the topic: one topic, one lane, one order.
    let mut lanes: HashMap<DatasetRef, Vec<mpsc::UnboundedSender<Item>>> = HashMap::new();
    for m in &config.mappings {
        lanes.entry(m.dataset.clone()).or_insert_with(|| {
            (0..config.lanes_per_dataset)
                .map(|_| lane(m.dataset.clone(), Some(dead_tx.clone())))
                .collect()
        });
    }
    let filters: Vec<String> = config
        .mappings
        .iter()
        .map(|m| m.filter.as_str().to_owned())
        .collect();
    let mut session = Session::new(&config);
    let mut acks = Acks {
        epoch: 0,
        next_ordinal: 0,
        queue: VecDeque::new(),
    };
    let mut connected_before = false;
    // Between a lost connection and the next CONNACK, rumqttc may still hand out PUBLISH
    // packets it had read from the old connection. Their packet ids mean nothing on the new
    // one, so they are ignored: the broker sends them again, and the server replays them.
    let mut connected = false;
    let mut backoff = Duration::from_millis(200);
    let mut shutdown = Box::pin(shutdown_signal());
    loop {
        tokio::select! {
            seen = session.poll() => match seen {
                Ok(Seen::Connected { session_present }) => {
                    backoff = Duration::from_millis(200);
                    metrics.connected.set(1);
                    tracing::info!(session_present, broker = %config.broker.host, "connected to the broker");
                    if !session_present && connected_before {
                        metrics.sessions_lost.inc();
                        tracing::error!("the broker kept no session for this client id: messages queued while the bridge was away may be lost (raise the broker's session expiry, keep client_id stable)");
                    }
                    // Every time, not only for a new session: a filter added to the file since
                    // the session began would otherwise never be subscribed. Resubscribing an
                    // existing filter is harmless (retained messages it resends are skipped
                    // unless `retained = "ingest"`, and replayed by dedup keys if ingested).
                    session.subscribe(&filters).map_err(|e| Failure::Unavailable(format!("subscribe: {e}")))?;
                    connected_before = true;
                    connected = true;
                }
                Ok(Seen::Subscribed { refused: Some(code), .. }) => {
                    return stop(&mut session, Some(format!(
                        "the broker refused a subscription ({code}): check its ACL for client id {:?}",
                        config.client_id
                    ))).await;
                }
                Ok(Seen::Subscribed { refused: None, qos0 }) => {
                    if qos0 {
                        tracing::warn!("the broker granted QoS 0: messages lost in transit are not sent again");
                    }
                    tracing::info!("subscription acknowledged");
                }
                Ok(Seen::Message(_)) if !connected => {}
                Ok(Seen::Message(msg)) => {
                    let held = match budget.try_hold(msg.payload.len(), msg.topic.len()) {
                        Some(held) => held,
                        None => {
                            // Stop reading from the broker until the lanes give memory back.
                            metrics.stalls.inc();
                            tokio::select! {
                                held = budget.hold(msg.payload.len(), msg.topic.len()) => held,
                                Some(Fatal(why)) = fatal_rx.recv() => return stop(&mut session, Some(why)).await,
                                _ = &mut shutdown => return stop(&mut session, None).await,
                            }
                        }
                    };
                    let ordinal = acks.receive(msg.ack);
                    let epoch = acks.epoch;
                    let received = Instant::now();
                    let skip = |acks: &mut Acks, outcome: &str| {
                        metrics.messages.with_label_values(&[outcome]).inc();
                        acks.mark(ordinal);
                    };
                    if msg.retain && config.retained == Retained::Skip {
                        skip(&mut acks, "skipped_retained");
                    } else if let Some(mapping) = config.mappings.iter().find(|m| m.filter.matches(&msg.topic)) {
                        let dedup_key = transform::message_dedup_key(mapping, &config.source, &msg.topic, &msg.payload);
                        let record = transform::to_record(mapping, &msg.topic, &msg.payload, dedup_key.clone(), config.max_message_bytes);
                        let item = |record| Item { epoch, ordinal, received, topic: msg.topic.clone(), record, raw: msg.payload.clone(), size: msg.payload.len(), _held: held };
                        match record {
                            Ok(record) => {
                                let lanes = &lanes[&mapping.dataset];
                                let mut h = std::hash::DefaultHasher::new();
                                msg.topic.hash(&mut h);
                                let _ = lanes[(h.finish() % lanes.len() as u64) as usize].send(item(record));
                            }
                            Err((reason, detail)) => {
                                let placeholder = transform::Record { key: None, dedup_key, payload: serde_json::Value::Null };
                                let dead = lane::dead_letter(item(placeholder), reason, &detail, &mapping.dataset, &metrics);
                                let _ = dead_tx.send(dead);
                            }
                        }
                    } else {
                        // A broker may deliver a topic no filter matches (a session from an
                        // older configuration): acknowledged, counted, not stored.
                        tracing::warn!(topic = %msg.topic, "a message on a topic no mapping matches; skipped");
                        skip(&mut acks, "unmatched");
                    }
                    flush(&session, &mut acks);
                }
                Ok(Seen::Other) => {}
                Err(e) => {
                    connected = false;
                    if metrics.connected.get() == 1 {
                        metrics.reconnects.inc();
                    }
                    metrics.connected.set(0);
                    acks.reset();
                    tracing::warn!(error = %e, "broker connection lost; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            },
            Some(done) = done_rx.recv() => {
                if done.epoch == acks.epoch {
                    for o in done.ordinals {
                        acks.mark(o);
                    }
                    flush(&session, &mut acks);
                }
            }
            Some(Fatal(why)) = fatal_rx.recv() => return stop(&mut session, Some(why)).await,
            _ = &mut shutdown => return stop(&mut session, None).await,
        }
        metrics.unacked.set(acks.queue.len() as i64);
        metrics.pending_bytes.set(budget.held_bytes() as i64);
    }
}

/// Leaves the broker cleanly, for a signal (`None`) or for what no retry fixes (`Some`: exit 1).
/// Either way the broker keeps every message not yet acknowledged.
async fn stop(session: &mut Session, fatal: Option<String>) -> Result<(), Failure> {
    if fatal.is_none() {
        tracing::info!("stopping: unacknowledged messages stay with the broker");
    }
    session.disconnect().await;
    fatal.map_or(Ok(()), |why| Err(Failure::Rejected(why)))
}

fn flush(session: &Session, acks: &mut Acks) {
    for handle in acks.ready() {
        if let Err(e) = session.ack(&handle) {
            // Only when the request queue is full; the broker sends the message again after
            // the next reconnect and the server answers it as a replay.
            tracing::warn!(error = %e, "could not queue an acknowledgement");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
