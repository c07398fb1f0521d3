//! `recordPublished`: every entry appended to a dataset, in seq order, without gaps.
//!
//! The follower subscribes to the in-process fan-out (`crate::fanout`) before it reads where
//! the log stands, so no append can fall between the two. With `afterSeq` it first replays
//! the entries after that seq from the database. Notices that carry their entries are
//! emitted from memory; a notice that starts past the next expected seq, carries no entries,
//! or a follower that lagged behind the channel, reads the gap from the database. The
//! dataset's visibility is checked again before every delivery, so a dataset that becomes
//! restricted stops reaching outsiders, and the connection's token is resolved again (at
//! most once a second), so a revoked token stops a subscription within a second.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::fanout::Appended;
use crate::graphql::types::record::{Log, Record};
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, state};
use crate::services::datasets::load_visible;
use crate::services::feed::{self, FeedFormat, FeedQuery};
use crate::services::{self};
use crate::state::AppState;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{Context, Subscription};
use civicproof_schema::models::Entry;
use civicproof_schema::queries::entries::FeedFilter;
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

/// Entries read from the database per round trip while catching up.
const CATCH_UP_PAGE: usize = 1_000;
/// How long a resolved connection token is trusted before it is checked again.
const TOKEN_RECHECK: Duration = Duration::from_secs(1);

/// The bearer token a WebSocket connection was initialized with (connection data).
#[derive(Clone)]
pub struct ConnectionToken(pub String);

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every entry (records and erasures) appended to the dataset from now on, in seq
    /// order. With `afterSeq`, first every entry after that seq: resuming with the last
    /// seq received never skips or repeats one. Fails with `not-found` for a dataset that
    /// does not exist or is not visible to the connection's token.
    async fn record_published(
        &self,
        ctx: &Context<'_>,
        institution: String,
        dataset: String,
        after_seq: Option<Seq>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<Record>>> {
        let st = state(ctx).clone();
        let who = caller(ctx).clone();
        let token = ctx.data_opt::<ConnectionToken>().map(|t| t.0.clone());
        // Subscribe first: every append committed after this point is announced to us.
        let rx = st.fanout.subscribe();
        let (ds, inst) = load_visible(&st, &who, &institution, &dataset).await?;
        let (next, known_end) = match after_seq {
            Some(s) => (s.as_i64() + 1, i64::MAX),
            None => {
                // The row itself, not the cache: where the log stands now.
                let view = services::datasets::get(&st, &who, &institution, &dataset).await?;
                (view.entry_count as i64, view.entry_count as i64)
            }
        };
        let follow = Follow {
            log: Log::new(st.origin(&inst.slug, &ds.slug), &inst.slug, &ds.slug),
            ds_id: ds.id,
            state: st,
            caller: who,
            token,
            token_checked: Instant::now(),
            next,
            known_end,
            rx,
            ready: VecDeque::new(),
            done: false,
        };
        Ok(futures_util::stream::unfold(follow, Follow::step).boxed())
    }
}

struct Follow {
    state: AppState,
    caller: Caller,
    /// The connection's token, resolved again before deliveries once it is stale.
    token: Option<String>,
    token_checked: Instant,
    log: Arc<Log>,
    ds_id: i64,
    /// The next seq to deliver.
    next: i64,
    /// Entries below this are committed and may be read from the database.
    known_end: i64,
    rx: Receiver<Appended>,
    ready: VecDeque<Entry>,
    done: bool,
}

impl Follow {
    async fn step(mut self) -> Option<(async_graphql::Result<Record>, Self)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(e) = self.ready.pop_front() {
                let record = Record::new(e, self.log.clone());
                return Some((Ok(record), self));
            }
            if let Err(e) = self.refill().await {
                self.done = true;
                return Some((Err(e.into()), self));
            }
            if self.done {
                return None;
            }
        }
    }

    /// Fills `ready` with the next entries (waiting for appends when caught up).
    async fn refill(&mut self) -> ApiResult<()> {
        loop {
            if self.known_end > self.next {
                self.check_visible().await?;
                let rows = self.read_from_db().await?;
                match rows.last() {
                    Some(last) => {
                        self.next = last.seq + 1;
                        self.ready.extend(rows);
                        return Ok(());
                    }
                    None => self.known_end = self.next,
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(a) if a.dataset_id == self.ds_id && a.end_seq > self.next => {
                    match &a.entries {
                        Some(entries) if a.first_seq <= self.next => {
                            self.check_visible().await?;
                            let next = self.next;
                            self.ready
                                .extend(entries.iter().filter(|e| e.seq >= next).cloned());
                            self.next = a.end_seq;
                            return Ok(());
                        }
                        // A gap before this notice, or a large batch: read it back.
                        _ => self.known_end = a.end_seq,
                    }
                }
                Ok(_) => {}
                // Missed notices: read everything committed since `next`.
                Err(RecvError::Lagged(_)) => self.known_end = i64::MAX,
                Err(RecvError::Closed) => {
                    self.done = true;
                    return Ok(());
                }
            }
        }
    }

    /// The token is still valid and the dataset still visible to it.
    async fn check_visible(&mut self) -> ApiResult<()> {
        if let Some(token) = &self.token
            && self.token_checked.elapsed() >= TOKEN_RECHECK
        {
            self.caller = crate::auth::resolve(&self.state, token).await?;
            self.token_checked = Instant::now();
        }
        load_visible(
            &self.state,
            &self.caller,
            &self.log.institution,
            &self.log.dataset,
        )
        .await
        .map(|_| ())
    }

    async fn read_from_db(&self) -> ApiResult<Vec<Entry>> {
        let q = FeedQuery {
            after: (self.next > 0).then_some(self.next - 1),
            limit: None,
            format: FeedFormat::Json,
            filter: FeedFilter::default(),
            passthrough: Vec::new(),
        };
        let (rows, _) = feed::page(&self.state, self.ds_id, &q, CATCH_UP_PAGE).await?;
        Ok(rows)
    }
}
