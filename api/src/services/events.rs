//! Following a dataset's log live: every entry appended from a point on, in seq order,
//! without gaps or repeats. Both live surfaces use it: Server-Sent Events
//! (`routes::events`) and the GraphQL `recordPublished` subscription.
//!
//! The follower subscribes to the fan-out (`crate::fanout`, fed across replicas by the
//! Redis bus) before it reads where the log stands, so no append can fall between the two.
//! Resuming after a seq first replays what followed it from the database. Notices that carry
//! their entries are delivered from memory; a notice that starts past the next expected seq,
//! carries no entries, or a follower that lagged behind the bounded channel (a slow client),
//! reads the gap from the database in pages. Memory per follower is therefore bounded: at
//! most one page or one notice's entries are held. The dataset's visibility is checked again
//! before every delivery and the caller's token is resolved again at most once a second, so
//! a dataset turned restricted or a revoked token stops a follower within a second. A
//! follower that heard nothing for two seconds reads the database too, so a notice lost on
//! the bus delays delivery by at most that much.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::fanout::Appended;
use crate::services::datasets::load_visible;
use crate::services::feed::{self, FeedFormat, FeedQuery};
use crate::state::AppState;
use civicproof_schema::models::Entry;
use civicproof_schema::queries::entries::FeedFilter;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

/// Entries read from the database per round trip while catching up.
const CATCH_UP_PAGE: usize = 1_000;
/// How long a follower waits for a notice before it reads the database anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(2);
/// How long a resolved token is trusted before it is checked again.
const TOKEN_RECHECK: Duration = Duration::from_secs(1);

pub struct Follower {
    state: AppState,
    caller: Caller,
    /// The bearer token, resolved again before deliveries once it is stale.
    token: Option<String>,
    token_checked: Instant,
    pub institution: String,
    pub dataset: String,
    /// `<prefix>/<institution>/<dataset>`.
    pub origin: String,
    pub dataset_id: i64,
    pub public: bool,
    /// The next seq to deliver.
    next: i64,
    /// Entries below this are committed and may be read from the database.
    known_end: i64,
    rx: Receiver<Appended>,
    ready: VecDeque<Entry>,
    /// `ready` came from a notice and visibility was not checked since.
    unchecked: bool,
}

impl Follower {
    /// Follows a dataset the caller may see (404 otherwise): from the entry after `after`,
    /// or, without it, from the next entry appended.
    pub async fn start(
        state: &AppState,
        caller: Caller,
        token: Option<String>,
        institution: &str,
        dataset: &str,
        after: Option<i64>,
    ) -> ApiResult<Self> {
        // Subscribe first: every append committed after this point is announced to us.
        let rx = state.fanout.subscribe();
        let (ds, inst) = load_visible(state, &caller, institution, dataset).await?;
        let (next, known_end) = match after {
            Some(s) => (s + 1, i64::MAX),
            None => {
                // The row itself, not the cache: where the log stands now.
                let id = ds.id;
                let end = crate::db::run(&state.pool, move |conn| {
                    Ok(civicproof_schema::queries::datasets::entry_count(conn, id)?)
                })
                .await?;
                (end, end)
            }
        };
        let public = ds.is_public();
        Ok(Self {
            origin: state.origin(&inst.slug, &ds.slug),
            institution: inst.slug,
            dataset: ds.slug,
            dataset_id: ds.id,
            public,
            state: state.clone(),
            caller,
            token,
            token_checked: Instant::now(),
            next,
            known_end,
            rx,
            ready: VecDeque::new(),
            unchecked: false,
        })
    }

    /// The id of the token this follower reads with, if any (its revocation ends the stream).
    pub fn token_id(&self) -> Option<uuid::Uuid> {
        self.token.as_ref().and(self.caller.token_id())
    }

    /// Resolves the token again before the next delivery (a revocation may have been missed).
    pub fn recheck_token(&mut self) {
        self.token_checked = Instant::now() - TOKEN_RECHECK;
    }

    /// The next entry, waiting for one when caught up; `None` when the server shuts down.
    /// Cancel-safe: state changes only after each await completes, so a caller may race it
    /// against a timer (heartbeats) and call it again.
    pub async fn next(&mut self) -> ApiResult<Option<Entry>> {
        loop {
            if !self.ready.is_empty() {
                if self.unchecked {
                    self.check_visible().await?;
                    self.unchecked = false;
                }
                return Ok(self.ready.pop_front());
            }
            if !self.refill().await? {
                return Ok(None);
            }
        }
    }

    /// Fills `ready` (waiting for appends when caught up); false once the fan-out closed.
    async fn refill(&mut self) -> ApiResult<bool> {
        loop {
            if self.known_end > self.next {
                self.check_visible().await?;
                let rows = self.read_from_db().await?;
                match rows.last() {
                    Some(last) => {
                        self.next = last.seq + 1;
                        self.ready.extend(rows);
                        return Ok(true);
                    }
                    None => self.known_end = self.next,
                }
                continue;
            }
            // The bus delivers at most once: a notice lost on the way (a full queue, a
            // PUBLISH that failed, a subscription dropped under load) must not stall a
            // follower, so an idle one looks at the database now and then.
            let Ok(received) = tokio::time::timeout(IDLE_RECHECK, self.rx.recv()).await else {
                self.known_end = i64::MAX;
                continue;
            };
            match received {
                Ok(a) if a.concerns(self.dataset_id) && a.end_seq > self.next => {
                    match &a.entries {
                        Some(entries) if a.first_seq <= self.next => {
                            // Checked before delivery (in `next`), not here: this notice
                            // is already taken from the channel and must not be lost.
                            self.unchecked = true;
                            let next = self.next;
                            self.ready
                                .extend(entries.iter().filter(|e| e.seq >= next).cloned());
                            self.next = a.end_seq;
                            return Ok(true);
                        }
                        // A gap before this notice, a large batch or a resync: read it back.
                        _ => self.known_end = a.end_seq,
                    }
                }
                Ok(_) => {}
                // Missed notices (a slow client): read everything committed since `next`.
                Err(RecvError::Lagged(_)) => self.known_end = i64::MAX,
                Err(RecvError::Closed) => return Ok(false),
            }
        }
    }

    /// The token is still valid and the dataset still visible to it.
    async fn check_visible(&mut self) -> ApiResult<()> {
        if let Some(token) = &self.token
            && self.token_checked.elapsed() >= TOKEN_RECHECK
        {
            let caller = crate::auth::resolve(&self.state, token).await?;
            self.caller = caller;
            self.token_checked = Instant::now();
        }
        load_visible(&self.state, &self.caller, &self.institution, &self.dataset)
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
        let (rows, _) = feed::page(&self.state, self.dataset_id, &q, CATCH_UP_PAGE).await?;
        Ok(rows)
    }
}
