//! A provider's signing keys (JWKS), fetched with reqwest and cached.
//!
//! - Fresh for the `Cache-Control: max-age` the provider sent (1 hour when absent).
//! - An unknown `kid` triggers one refetch, at most once a minute, so a forged `kid`
//!   cannot make us hammer the provider.
//! - Concurrent requests needing a fetch share one: the first fetches, the others wait
//!   on the lock and then find the new keys.
//! - When the provider is unreachable, a stale copy keeps serving.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::DecodingKey;
use tokio::sync::{Mutex, RwLock};

const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const UNKNOWN_KID_REFETCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no key with this kid")]
    UnknownKid,
    #[error("the provider's key set cannot be fetched")]
    Unavailable,
}

struct Cached {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
    max_age: Duration,
    /// Bumped on every successful fetch, so waiters can tell one happened.
    generation: u64,
}

pub struct KeySet {
    url: String,
    http: reqwest::Client,
    cache: RwLock<Option<Cached>>,
    /// Held while fetching; its value is when an unknown kid last caused a refetch.
    fetching: Mutex<Option<Instant>>,
}

impl KeySet {
    pub fn new(url: String, http: reqwest::Client) -> Self {
        Self { url, http, cache: RwLock::new(None), fetching: Mutex::new(None) }
    }

    /// The key for `kid`, fetching the set when needed.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        let seen_generation = {
            let cache = self.cache.read().await;
            match cache.as_ref() {
                Some(c) if c.fetched_at.elapsed() < c.max_age => {
                    if let Some(key) = c.keys.get(kid) {
                        return Ok(key.clone());
                    }
                    Some(c.generation)
                }
                Some(c) => Some(c.generation),
                None => None,
            }
        };

        let mut last_unknown_kid_fetch = self.fetching.lock().await;
        {
            // Someone else may have fetched while we waited for the lock.
            let cache = self.cache.read().await;
            if let Some(c) = cache.as_ref() {
                let refetched = Some(c.generation) != seen_generation;
                let fresh = c.fetched_at.elapsed() < c.max_age;
                if refetched || fresh {
                    if let Some(key) = c.keys.get(kid) {
                        return Ok(key.clone());
                    }
                }
                if refetched {
                    return Err(KeyError::UnknownKid);
                }
                if fresh {
                    // A fresh set without this kid: the provider may have rotated keys.
                    if last_unknown_kid_fetch.is_some_and(|t| t.elapsed() < UNKNOWN_KID_REFETCH_EVERY) {
                        return Err(KeyError::UnknownKid);
                    }
                    *last_unknown_kid_fetch = Some(Instant::now());
                }
            }
        }

        match self.fetch().await {
            Ok((keys, max_age)) => {
                let found = keys.get(kid).cloned();
                let mut cache = self.cache.write().await;
                let generation = cache.as_ref().map_or(0, |c| c.generation + 1);
                *cache = Some(Cached { keys, fetched_at: Instant::now(), max_age, generation });
                found.ok_or(KeyError::UnknownKid)
            }
            Err(err) => {
                tracing::warn!(url = %self.url, error = format!("{err:#}"), "fetching the key set failed");
                let cache = self.cache.read().await;
                match cache.as_ref().and_then(|c| c.keys.get(kid)) {
                    Some(stale) => Ok(stale.clone()),
                    None => Err(KeyError::Unavailable),
                }
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<(HashMap<String, DecodingKey>, Duration)> {
        let resp = self
            .http
            .get(&self.url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.without_url()))?;
        anyhow::ensure!(resp.status().is_success(), "key set answered {}", resp.status());
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE)
            .min(LONGEST_MAX_AGE);
        let set: JwkSet = resp.json().await?;
        let keys = set
            .keys
            .iter()
            .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        Ok((keys, max_age))
    }
}

fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            super::max_age("public, max-age=22119, must-revalidate"),
            Some(std::time::Duration::from_secs(22119))
        );
        assert_eq!(super::max_age("no-cache"), None);
    }
}
