//! Idempotency keys (issue 6 item 7): (account, key) → request fingerprint + outcome.
//!
//! - A key seen before with the same request returns the recorded outcome (no second action);
//!   with a different request, IDEMPOTENCY_KEY_REUSED.
//! - Concurrent requests with one key: the later ones wait for the first and share its result.
//! - Sends derive Telegram's `random_id` from the key ([`random_id`]), so even a retry that
//!   finds no record (the gateway died between Telegram's answer and the commit) cannot post
//!   twice: Telegram answers a repeated random_id with the original message.
//! - Outcomes go through the group-commit writer; recent ones are cached in memory (bounded),
//!   so a client's immediate retry costs no database read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use telegate_store::{now_ms, IdempotencyRecord, Store};
use tokio::sync::watch;

use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::writer::Writer;

/// Upper bound on outcomes kept in memory (each a few hundred bytes).
const CACHE_CAP: usize = 100_000;
const SHARDS: usize = 16;

/// Checks a caller's key: 1–255 visible ASCII characters.
pub fn validate_key(key: &str) -> CoreResult<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CoreError::invalid(
            "Idempotency-Key: 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Telegram's random_id for a send with this key (stable across restarts and retries).
pub fn random_id(account_id: i64, key: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(b"telegate random_id v1\0");
    h.update(account_id.to_le_bytes());
    h.update(key.as_bytes());
    let d = h.finalize();
    i64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// A hash of the operation and its request (never stored in clear: it may hold message text).
pub fn fingerprint(op: &str, request: &impl Serialize) -> String {
    let mut h = Sha256::new();
    h.update(op.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(request).unwrap_or_default());
    hex::encode(&h.finalize()[..16])
}

type Shared = Option<Result<Value, (ErrorCode, String)>>;

enum Entry {
    InFlight {
        fingerprint: String,
        done: watch::Receiver<Shared>,
    },
    Done {
        fingerprint: String,
        outcome: Value,
    },
}

/// What [`Idempotency::begin`] found.
pub(crate) enum Begin {
    /// First time: act, then [`Guard::complete`].
    Fresh(Guard),
    /// Done before: here is the outcome.
    Done(Value),
}

pub(crate) struct Idempotency {
    store: Arc<dyn Store>,
    writer: Writer,
    shards: Vec<Mutex<HashMap<(i64, String), Entry>>>,
}

fn shard_of(account_id: i64, key: &str) -> usize {
    let mut h: u64 = account_id as u64;
    for b in key.bytes() {
        h = h.wrapping_mul(31).wrapping_add(b as u64);
    }
    (h as usize) % SHARDS
}

impl Idempotency {
    pub(crate) fn new(store: Arc<dyn Store>, writer: Writer) -> Arc<Self> {
        Arc::new(Self {
            store,
            writer,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    fn shard(
        &self,
        account_id: i64,
        key: &str,
    ) -> std::sync::MutexGuard<'_, HashMap<(i64, String), Entry>> {
        self.shards[shard_of(account_id, key)]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an operation under `key` with request `fp`.
    pub(crate) async fn begin(
        self: &Arc<Self>,
        account_id: i64,
        key: &str,
        fp: &str,
    ) -> CoreResult<Begin> {
        validate_key(key)?;
        loop {
            // 1. Memory: done, or in flight (wait for it).
            let waiting = {
                let map = self.shard(account_id, key);
                match map.get(&(account_id, key.to_owned())) {
                    Some(Entry::Done {
                        fingerprint,
                        outcome,
                    }) => {
                        return if fingerprint == fp {
                            Ok(Begin::Done(outcome.clone()))
                        } else {
                            Err(reused())
                        }
                    }
                    Some(Entry::InFlight { fingerprint, done }) => {
                        if fingerprint != fp {
                            return Err(reused());
                        }
                        Some(done.clone())
                    }
                    None => None,
                }
            };
            if let Some(mut rx) = waiting {
                let r = rx.wait_for(|v| v.is_some()).await.map(|v| v.clone());
                match r {
                    Ok(Some(Ok(v))) => return Ok(Begin::Done(v)),
                    Ok(Some(Err((code, msg)))) => return Err(CoreError::new(code, msg)),
                    // The first attempt gave up without a result: try again ourselves.
                    _ => continue,
                }
            }
            // 2. The store (a previous process may have done it).
            let found = self
                .store
                .idempotency_records(&[(account_id, key.to_owned())])
                .await?;
            if let Some(rec) = found.into_iter().next() {
                if rec.fingerprint != fp {
                    return Err(reused());
                }
                self.remember(account_id, key, rec.fingerprint, rec.outcome.clone());
                return Ok(Begin::Done(rec.outcome));
            }
            // 3. Claim it (unless someone else did meanwhile).
            let (tx, rx) = watch::channel(None);
            let mut map = self.shard(account_id, key);
            if map.contains_key(&(account_id, key.to_owned())) {
                continue;
            }
            map.insert(
                (account_id, key.to_owned()),
                Entry::InFlight {
                    fingerprint: fp.to_owned(),
                    done: rx,
                },
            );
            return Ok(Begin::Fresh(Guard {
                owner: self.clone(),
                account_id,
                key: key.to_owned(),
                fingerprint: fp.to_owned(),
                tx: Some(tx),
            }));
        }
    }

    fn remember(&self, account_id: i64, key: &str, fingerprint: String, outcome: Value) {
        let mut map = self.shard(account_id, key);
        if map.len() >= CACHE_CAP / SHARDS {
            // Cheap bounded eviction of completed entries (they stay in the store).
            let victims: Vec<(i64, String)> = map
                .iter()
                .filter(|(_, e)| matches!(e, Entry::Done { .. }))
                .take(map.len() / 2 + 1)
                .map(|(k, _)| k.clone())
                .collect();
            for v in victims {
                map.remove(&v);
            }
        }
        map.insert(
            (account_id, key.to_owned()),
            Entry::Done {
                fingerprint,
                outcome,
            },
        );
    }
}

fn reused() -> CoreError {
    CoreError::new(
        ErrorCode::IdempotencyKeyReused,
        "this Idempotency-Key was used with a different request",
    )
}

/// The claim on a key; dropping it without completing releases the key (a retry may act).
pub(crate) struct Guard {
    owner: Arc<Idempotency>,
    account_id: i64,
    key: String,
    fingerprint: String,
    tx: Option<watch::Sender<Shared>>,
}

impl Guard {
    /// Records the outcome durably (group commit) and hands it to concurrent waiters.
    pub(crate) async fn complete(mut self, outcome: Value) -> CoreResult<()> {
        let record = IdempotencyRecord {
            account_id: self.account_id,
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            outcome: outcome.clone(),
            created_at: now_ms(),
        };
        let written = self.owner.writer.write_outcome(record).await;
        self.owner.remember(
            self.account_id,
            &self.key,
            self.fingerprint.clone(),
            outcome.clone(),
        );
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Some(Ok(outcome)));
        }
        if let Err(e) = &written {
            // The action happened; only the record is missing. A retry re-sends with the same
            // random_id, which Telegram deduplicates.
            tracing::warn!(account_id = self.account_id, error = %e, "idempotency outcome not recorded");
        }
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let mut map = self.owner.shard(self.account_id, &self.key);
            if matches!(
                map.get(&(self.account_id, self.key.clone())),
                Some(Entry::InFlight { .. })
            ) {
                map.remove(&(self.account_id, self.key.clone()));
            }
            drop(map);
            drop(tx); // waiters see the channel close and retry themselves
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_stable_and_per_account() {
        assert_eq!(random_id(1, "k"), random_id(1, "k"));
        assert_ne!(random_id(1, "k"), random_id(2, "k"));
        assert_ne!(random_id(1, "k"), random_id(1, "k2"));
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("order-42").is_ok());
        for bad in ["", "with space", &"x".repeat(256), "naïve"] {
            assert_eq!(
                validate_key(bad).unwrap_err().code,
                ErrorCode::InvalidRequest
            );
        }
    }
}
