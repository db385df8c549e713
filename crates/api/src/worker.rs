//! The webhook delivery worker: a dispatcher that turns new events of the durable log into
//! deliveries (one per matching webhook), and a sender that posts due deliveries, signed, with
//! exponential backoff, dead-lettering those still failing after the retry window.
//!
//! Why two loops over the store rather than a channel: both survive a restart. The
//! dispatcher's position is the named cursor `webhooks`, moved in the same transaction as the
//! deliveries it enqueues; pending deliveries and their next attempt times are rows. A crash
//! loses no event and sends none twice on purpose (a delivery interrupted mid-request is sent
//! again, as at-least-once delivery allows; receivers dedup by `webhook-id`).
//!
//! One worker per database is assumed (two gateways on one PostgreSQL would both send): run
//! the others with `webhooks.enabled = false`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use telegate_store::{now_ms, DeliveryOutcome, Event, Store, Webhook, WebhookDelivery};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::events::{EventEnvelope, TypeFilter};
use crate::AppState;

/// The dispatcher's cursor name in `event_cursors`.
pub const CURSOR: &str = "webhooks";

/// Lets request handlers wake the sender (after a manual redelivery).
#[derive(Debug, Default)]
pub struct WorkerHandle {
    wake: Notify,
}

impl WorkerHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Standard Webhooks signature: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
/// where the key is the base64 part of a `whsec_` secret (a secret without the prefix, or not
/// base64, is used as raw bytes).
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| b64.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&key)
        .expect("HMAC accepts keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// The delay before retry number `attempts + 1`: `initial * 2^attempts`, capped, with up to
/// 10% jitter so that a receiver coming back is not hit by every delivery at once.
pub fn backoff(initial_ms: u64, max_ms: u64, attempts: i32) -> u64 {
    let exp = initial_ms.saturating_mul(1u64 << attempts.clamp(0, 30));
    let base = exp.min(max_ms);
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let jitter = base / 10 * u64::from(u16::from_le_bytes(r)) / u64::from(u16::MAX);
    base + jitter
}

/// Runs both loops until the server shuts down.
pub async fn run(state: AppState) {
    let config = state.config().webhooks.clone();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(config.request_timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "telegate/",
            env!("CARGO_PKG_VERSION"),
            " (webhooks)"
        ))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook worker: cannot build the HTTP client; webhooks are off");
            return;
        }
    };
    tokio::join!(dispatch(state.clone()), send(state, client));
}

async fn wait(state: &AppState, extra: Option<&Notify>, poll: Duration) {
    let mut bell = state.inner.bell.subscribe();
    bell.mark_unchanged();
    let mut shutdown = state.inner.shutdown.clone();
    if *shutdown.borrow() {
        return;
    }
    let notified = async {
        match extra {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = bell.changed() => {}
        _ = notified => {}
        _ = tokio::time::sleep(poll) => {}
        _ = shutdown.changed() => {}
    }
}

fn matches(hook: &Webhook, filter: &TypeFilter, e: &Event) -> bool {
    hook.enabled
        && e.id > hook.start_after_event_id
        && (hook.account_id.is_none() || hook.account_id == e.account_id)
        && filter.matches(&e.kind)
}

async fn dispatch(state: AppState) {
    let store = state.store().clone();
    let poll = Duration::from_millis(state.config().webhooks.poll_interval_ms.max(10));
    let mut cursor: Option<i64> = None;
    while !*state.inner.shutdown.borrow() {
        match dispatch_once(store.as_ref(), &mut cursor).await {
            Ok(true) => {
                state.inner.worker.wake();
                continue;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "webhook dispatcher: store error; retrying"),
        }
        wait(&state, None, poll).await;
    }
}

/// One pass; `Ok(true)` when it moved (there may be more).
async fn dispatch_once(
    store: &dyn Store,
    cursor: &mut Option<i64>,
) -> Result<bool, telegate_store::StoreError> {
    let position = match *cursor {
        Some(c) => c,
        None => {
            // First start ever: begin at the log's end (webhooks get events appended after they
            // were created; older ones are not replayed), but never past the start of a webhook
            // that already exists: one created (and an event appended) before this first pass ran
            // would otherwise miss that event. The log's end is read before the webhooks, so a
            // webhook created in between starts at or after it.
            let c = match store.event_cursor(CURSOR).await? {
                Some(c) => c,
                None => {
                    let end = store.last_event_id().await?;
                    let last = store
                        .webhooks()
                        .await?
                        .iter()
                        .map(|h| h.start_after_event_id)
                        .fold(end, i64::min);
                    store
                        .enqueue_deliveries(&[], CURSOR, last, now_ms())
                        .await?;
                    last
                }
            };
            *cursor = Some(c);
            c
        }
    };
    let events = store.events_after(position, None, 500).await?;
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(false);
    };
    let hooks: Vec<(Webhook, TypeFilter)> = store
        .webhooks()
        .await?
        .into_iter()
        .filter(|h| h.enabled)
        .filter_map(|h| {
            let f = TypeFilter::parse(&h.event_filter).ok()?;
            Some((h, f))
        })
        .collect();
    let mut pairs = Vec::new();
    for e in &events {
        for (h, f) in &hooks {
            if matches(h, f, e) {
                pairs.push((h.id, e.id));
            }
        }
    }
    store
        .enqueue_deliveries(&pairs, CURSOR, last, now_ms())
        .await?;
    *cursor = Some(last);
    Ok(true)
}

async fn send(state: AppState, client: reqwest::Client) {
    let config = state.config().webhooks.clone();
    let poll = Duration::from_millis(config.poll_interval_ms.max(10));
    let slots = Arc::new(Semaphore::new(config.concurrency as usize));
    let in_flight: Arc<Mutex<HashSet<i64>>> = Default::default();
    let mut tasks = JoinSet::new();
    while !*state.inner.shutdown.borrow() {
        while tasks.try_join_next().is_some() {}
        let due = match state
            .store()
            .due_deliveries(now_ms(), config.concurrency * 4)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "webhook sender: store error; retrying");
                Vec::new()
            }
        };
        for d in due {
            if !in_flight.lock().expect("in-flight lock").insert(d.id) {
                continue;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (state, client, in_flight) = (state.clone(), client.clone(), in_flight.clone());
            tasks.spawn(async move {
                if let Err(e) = attempt(&state, &client, &d).await {
                    tracing::warn!(delivery = d.id, error = %e, "webhook delivery: store error");
                }
                in_flight.lock().expect("in-flight lock").remove(&d.id);
                drop(permit);
                state.inner.worker.wake();
            });
        }
        wait(&state, Some(&state.inner.worker.wake), poll).await;
    }
    // Let attempts in flight finish (each is bounded by the request timeout).
    while tasks.join_next().await.is_some() {}
}

async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    d: &WebhookDelivery,
) -> Result<(), telegate_store::StoreError> {
    let store = state.store();
    let config = &state.config().webhooks;
    let Some(hook) = store.webhook(d.webhook_id).await? else {
        return Ok(()); // deleted meanwhile; its deliveries went with it
    };
    let event = store
        .events_after(d.event_id - 1, None, 1)
        .await?
        .into_iter()
        .find(|e| e.id == d.event_id);
    let started = Instant::now();
    let Some(event) = event else {
        let outcome = DeliveryOutcome::Dead {
            status: None,
            error: "the event is no longer in the log".into(),
        };
        return store
            .record_delivery_attempt(d.id, outcome, 0, now_ms())
            .await;
    };
    let secret: Option<SecretString> = store.webhook_secret(hook.id).await?;
    let body = serde_json::to_vec(&EventEnvelope::from(&event)).unwrap_or_default();
    let msg_id = format!("evt_{}", event.id);
    let timestamp = now_ms() / 1000;
    let mut request = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = &secret {
        request = request.header(
            "webhook-signature",
            sign(secret.expose_secret(), &msg_id, timestamp, &body),
        );
    }
    let result = request.body(body).send().await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let now = now_ms();
    let (status, error) = match result {
        Ok(response) if response.status().is_success() => {
            metrics::counter!("telegate_webhook_attempts_total", "outcome" => "delivered")
                .increment(1);
            let outcome = DeliveryOutcome::Delivered {
                status: response.status().as_u16() as i32,
            };
            return store
                .record_delivery_attempt(d.id, outcome, duration_ms, now)
                .await;
        }
        Ok(response) => {
            let s = response.status();
            (
                Some(s.as_u16() as i32),
                format!("the receiver answered HTTP {}", s.as_u16()),
            )
        }
        // Without the URL: it may carry a credential (many receivers put one in the path).
        Err(e) => (None, e.without_url().to_string()),
    };
    let delay = backoff(config.initial_backoff_ms, config.max_backoff_ms, d.attempts) as i64;
    let deadline = d.window_started_at + config.retry_window_secs as i64 * 1000;
    let gone = status == Some(410);
    let outcome = if gone || now + delay > deadline {
        metrics::counter!("telegate_webhook_attempts_total", "outcome" => "dead").increment(1);
        tracing::warn!(delivery = d.id, webhook = hook.id, error = %error, "webhook delivery dead-lettered");
        DeliveryOutcome::Dead { status, error }
    } else {
        metrics::counter!("telegate_webhook_attempts_total", "outcome" => "retry").increment(1);
        tracing::debug!(delivery = d.id, webhook = hook.id, error = %error, delay_ms = delay, "webhook delivery failed; will retry");
        DeliveryOutcome::Retry {
            status,
            error,
            next_attempt_at: now + delay,
        }
    };
    store
        .record_delivery_attempt(d.id, outcome, duration_ms, now)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        for (attempts, base) in [(0, 100), (1, 200), (2, 400), (10, 1000)] {
            let d = backoff(100, 1000, attempts);
            assert!((base..=base + base / 10).contains(&d), "{attempts}: {d}");
        }
    }
}
