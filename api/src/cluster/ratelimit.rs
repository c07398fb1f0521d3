//! Rate limits per token and per client address (API.md, Limits), with GCRA: each key keeps
//! one number, its theoretical arrival time (TAT). A limit of `count` per `window` admits a
//! burst of `count` and then one request every `window / count`.
//!
//! With Redis the check is one atomic script, so every replica shares the budget; without
//! Redis (or, failing open, while it is down) each process keeps its own. Who a request
//! counts as (a token under its role's limit, or a client address under the anonymous one)
//! is the request layer's call: `edge::limits`.

use super::config::{ClusterConfig, FailMode, RateSpec};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// GCRA in Lua. KEYS[1]: the key; ARGV: emission interval and burst tolerance, in µs.
/// Returns {allowed (0/1), remaining, µs until the budget is full again, µs to wait}.
pub const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
";

/// What the limiter decided, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub window_secs: u64,
    pub remaining: u64,
    /// Seconds until the budget is full again.
    pub reset_secs: u64,
    /// Seconds to wait before retrying (when refused).
    pub retry_after_secs: u64,
}

/// Which limit a key is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Admin,
    Publisher,
    Reader,
    Anonymous,
}

/// Who a request is counted as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub key: String,
    pub spec: RateSpec,
}

pub struct Limiter {
    admin: RateSpec,
    publisher: RateSpec,
    reader: RateSpec,
    anonymous: RateSpec,
    pub fail: FailMode,
    local: Mutex<Local>,
    script: ::redis::Script,
}

#[derive(Default)]
struct Local {
    tats: HashMap<String, u64>,
    last_sweep: Option<Instant>,
}

impl Limiter {
    pub fn new(c: &ClusterConfig) -> Self {
        Self {
            admin: c.rate_limit_admin,
            publisher: c.rate_limit_publisher,
            reader: c.rate_limit_reader,
            anonymous: c.rate_limit_anonymous,
            fail: c.rate_limit_fail,
            local: Mutex::new(Local::default()),
            script: ::redis::Script::new(GCRA_SCRIPT),
        }
    }

    /// The limit of a key of this class (`None`: not limited).
    pub fn subject(&self, key: String, class: Class) -> Option<Subject> {
        let spec = match class {
            Class::Admin => self.admin,
            Class::Publisher => self.publisher,
            Class::Reader => self.reader,
            Class::Anonymous => self.anonymous,
        };
        (spec != RateSpec::Off).then_some(Subject { key, spec })
    }

    /// Checks one request: in Redis when `redis` is given, else in this process.
    /// `Err(())` when Redis should have answered but could not and the limiter fails closed.
    pub async fn check(
        &self,
        subject: &Subject,
        redis: Option<(&super::link::RedisLink, &str)>,
        redis_configured: bool,
    ) -> Result<Decision, ()> {
        let RateSpec::Limit { count, window } = subject.spec else {
            unreachable!("subjects are only made for limits")
        };
        let window_us = window.as_micros() as u64;
        let interval = (window_us / u64::from(count)).max(1);
        let tolerance = interval * u64::from(count);
        if let Some((link, prefix)) = redis {
            let mut inv = self.script.prepare_invoke();
            inv.key(format!("{prefix}rl:{}", subject.key))
                .arg(interval)
                .arg(tolerance);
            if let Some(v) = link.invoke::<Vec<i64>>(inv).await
                && v.len() == 4
            {
                return Ok(decision(
                    v[0] == 1,
                    count,
                    window_us,
                    v[1].max(0) as u64,
                    v[2].max(0) as u64,
                    v[3].max(0) as u64,
                ));
            }
        }
        if redis_configured && self.fail == FailMode::Closed {
            return Err(());
        }
        Ok(self.check_local(&subject.key, count, window_us, interval, tolerance))
    }

    fn check_local(
        &self,
        key: &str,
        count: u32,
        window_us: u64,
        interval: u64,
        tolerance: u64,
    ) -> Decision {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut local = self.local.lock().expect("limiter lock");
        // Forget keys whose budget is full again (their TAT is in the past).
        if local.last_sweep.is_none_or(|t| t.elapsed().as_secs() >= 10) {
            local.tats.retain(|_, tat| *tat > now);
            local.last_sweep = Some(Instant::now());
        }
        let tat = local.tats.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat + interval;
        let allow_at = new_tat.saturating_sub(tolerance);
        if now < allow_at {
            return decision(false, count, window_us, 0, tat - now, allow_at - now);
        }
        local.tats.insert(key.to_owned(), new_tat);
        decision(
            true,
            count,
            window_us,
            (now - allow_at) / interval,
            new_tat - now,
            0,
        )
    }
}

fn decision(
    allowed: bool,
    limit: u32,
    window_us: u64,
    remaining: u64,
    reset_us: u64,
    wait_us: u64,
) -> Decision {
    Decision {
        allowed,
        limit,
        window_secs: window_us.div_ceil(1_000_000),
        remaining,
        reset_secs: reset_us.div_ceil(1_000_000),
        retry_after_secs: wait_us.div_ceil(1_000_000).max(u64::from(!allowed)),
    }
}

/// API.md: the TCP peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not one.
pub fn client_addr(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let mut last_trusted = peer;
    for hop in forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .rev()
    {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => last_trusted = ip,
            Ok(ip) => return Some(ip),
            // A malformed entry ends what can be believed.
            Err(_) => return Some(last_trusted),
        }
    }
    Some(last_trusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_client_address_follows_trusted_proxies_only() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let other_proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = [proxy, other_proxy];
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_addr(Some(client), &["198.51.100.1"], &trusted),
            Some(client)
        );
        // Spoofed left entries are ignored: the right-most untrusted one counts.
        assert_eq!(
            client_addr(Some(proxy), &["1.2.3.4, 203.0.113.9, 10.0.0.2"], &trusted),
            Some(client)
        );
        assert_eq!(
            client_addr(Some(proxy), &["1.2.3.4", "203.0.113.9"], &trusted),
            Some(client)
        );
        assert_eq!(client_addr(Some(proxy), &[], &trusted), Some(proxy));
        assert_eq!(client_addr(Some(proxy), &["junk"], &trusted), Some(proxy));
    }

    #[test]
    fn the_local_limiter_admits_a_burst_then_refuses_with_a_wait() {
        let cfg = ClusterConfig {
            rate_limit_anonymous: RateSpec::per(3, Duration::from_secs(60)),
            ..Default::default()
        };
        let l = Limiter::new(&cfg);
        let s = l.subject("ip:127.0.0.1".into(), Class::Anonymous).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ds: Vec<Decision> = (0..4)
            .map(|_| rt.block_on(l.check(&s, None, false)).unwrap())
            .collect();
        assert!(ds[..3].iter().all(|d| d.allowed));
        assert_eq!(
            ds.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert!(!ds[3].allowed);
        assert!((19..=20).contains(&ds[3].retry_after_secs), "{:?}", ds[3]);
        assert_eq!(ds[3].limit, 3);
    }
}
