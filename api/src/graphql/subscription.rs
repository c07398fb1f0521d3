//! `recordPublished`: every entry appended to a dataset, in seq order, without gaps, on
//! whichever replica it was appended. The following itself (replay, live notices, gaps,
//! visibility and token rechecks) is `services::events::Follower`, shared with the
//! Server-Sent Events route.

use crate::graphql::types::record::{Log, Record};
use crate::graphql::types::scalars::Seq;
use crate::graphql::{caller, state};
use crate::services::events::Follower;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{Context, Subscription};
use futures_util::StreamExt;
use std::sync::Arc;

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
        let follower = Follower::start(
            &st,
            who,
            token,
            &institution,
            &dataset,
            after_seq.map(|s| s.as_i64()),
        )
        .await?;
        let log = Log::new(
            follower.origin.clone(),
            &follower.institution,
            &follower.dataset,
        );
        Ok(
            futures_util::stream::unfold(Some((follower, log)), |state| async move {
                let (mut follower, log) = state?;
                match follower.next().await {
                    Ok(Some(e)) => {
                        let record = Record::new(e, Arc::clone(&log));
                        Some((Ok(record), Some((follower, log))))
                    }
                    Ok(None) => None,
                    Err(e) => Some((Err(e.into()), None)),
                }
            })
            .boxed(),
        )
    }
}
