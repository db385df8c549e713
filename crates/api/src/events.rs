//! The durable update streams: Server-Sent Events at `GET /v1/events` (resumable with
//! `Last-Event-ID`) and WebSocket at `GET /v1/events/ws` (resumable with `?after=`), both read
//! from the store's event log, so a client that reconnects — even to a restarted gateway —
//! resumes exactly after the last event it saw and misses nothing.
//!
//! Every event is sent as the same envelope (also the webhook body):
//! `{"id": 42, "type": "message.new", "account_id": 1, "created_at": "…", "data": {…}}`, where
//! `data` is the runtime's payload for that type. Streams are filtered by account
//! (`?account=1,2`) and type (`?types=message.*,chat.updated`), and always by the token's
//! scopes: a token limited to some accounts never sees another account's events, nor the
//! gateway-wide events that belong to no account.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use telegate_store::Event;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{account_not_found, Auth, Principal};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::{rfc3339, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sse))
        .routes(routes!(websocket))
}

/// One event as streams and webhooks deliver it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventEnvelope {
    /// Monotonic; resume after it (`Last-Event-ID`, `?after=`).
    pub id: i64,
    /// e.g. `message.new`, `account.state`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Absent for gateway-wide events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    pub created_at: String,
    /// The payload for this type (see docs/events.md).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<&Event> for EventEnvelope {
    fn from(e: &Event) -> Self {
        EventEnvelope {
            id: e.id,
            kind: e.kind.clone(),
            account_id: e.account_id,
            created_at: rfc3339(e.created_at),
            data: e.payload.clone(),
        }
    }
}

/// Event type patterns: `message.new` (exact), `message.*` (prefix), `*` (all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeFilter(Vec<String>);

impl TypeFilter {
    pub fn parse(list: &str) -> Result<TypeFilter, String> {
        let mut out = Vec::new();
        for p in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let body = p.strip_suffix(".*").unwrap_or(p);
            let ok = p == "*"
                || (!body.is_empty()
                    && body.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._".contains(&b)
                    }));
            if !ok {
                return Err(format!(
                    "event type pattern {p:?}: expected e.g. message.new, message.* or *"
                ));
            }
            out.push(p.to_owned());
        }
        Ok(TypeFilter(out))
    }

    pub fn all() -> TypeFilter {
        TypeFilter(vec!["*".into()])
    }

    pub fn matches(&self, kind: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|p| {
                p == "*"
                    || p == kind
                    || p.strip_suffix('*')
                        .is_some_and(|prefix| kind.starts_with(prefix))
            })
    }

    /// The stored form (webhooks' `event_filter`).
    pub fn to_text(&self) -> String {
        if self.0.is_empty() {
            "*".into()
        } else {
            self.0.join(",")
        }
    }

    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// Which events a stream (or webhook) gets.
#[derive(Debug, Clone)]
pub struct EventFilter {
    /// `None`: every account.
    pub accounts: Option<Vec<i64>>,
    /// Events of no account (gateway-wide): only for callers that see every account.
    pub include_global: bool,
    pub types: TypeFilter,
}

impl EventFilter {
    pub fn matches(&self, e: &Event) -> bool {
        let account_ok = match (e.account_id, &self.accounts) {
            (None, _) => self.include_global,
            (Some(_), None) => true,
            (Some(a), Some(list)) => list.contains(&a),
        };
        account_ok && self.types.matches(&e.kind)
    }

    /// When exactly one account is wanted, the store can filter (an index read instead of a
    /// scan of everybody's events).
    fn single_account(&self) -> Option<i64> {
        match &self.accounts {
            Some(list) if list.len() == 1 && !self.include_global => Some(list[0]),
            _ => None,
        }
    }

    /// The filter for `principal` asking for `accounts` (`None`: all it may see).
    pub fn for_principal(
        principal: &Principal,
        accounts: Option<Vec<i64>>,
        types: TypeFilter,
    ) -> ApiResult<EventFilter> {
        principal.require_read()?;
        let accounts = match (accounts, principal.account_limit()) {
            (Some(asked), _) => {
                if let Some(bad) = asked.iter().find(|a| !principal.can_see_account(**a)) {
                    return Err(account_not_found(*bad));
                }
                Some(asked)
            }
            (None, Some(limit)) => Some(limit.to_vec()),
            (None, None) => None,
        };
        Ok(EventFilter {
            include_global: accounts.is_none() && principal.sees_all_accounts(),
            accounts,
            types,
        })
    }
}

/// Query of both stream routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Comma-separated account ids (default: every account the token may see).
    pub account: Option<String>,
    /// Comma-separated type patterns: `message.new`, `message.*`, `*` (default all).
    pub types: Option<String>,
    /// Resume after this event id (`0` replays the whole log). Default: the `Last-Event-ID`
    /// header, else only new events.
    pub after: Option<i64>,
    /// The API token, for clients that cannot set headers (browsers' EventSource and
    /// WebSocket). Prefer the Authorization header.
    pub access_token: Option<String>,
}

fn parse_accounts(s: &str) -> ApiResult<Vec<i64>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .map_err(|_| ApiError::invalid(format!("account: {p:?} is not an account id")))
        })
        .collect()
}

async fn prepare(
    state: &AppState,
    auth: &Auth,
    params: &StreamParams,
    last_event_id: Option<i64>,
) -> ApiResult<(EventFilter, i64)> {
    let accounts = params.account.as_deref().map(parse_accounts).transpose()?;
    let types = match &params.types {
        Some(t) => TypeFilter::parse(t).map_err(ApiError::invalid)?,
        None => TypeFilter::all(),
    };
    let filter = EventFilter::for_principal(auth, accounts, types)?;
    let cursor = match params.after.or(last_event_id) {
        Some(c) if c < 0 => return Err(ApiError::invalid("after: must be 0 or more")),
        Some(c) => c,
        None => state.store().last_event_id().await?,
    };
    Ok((filter, cursor))
}

/// Counts open streams for the gauge.
struct StreamGauge;

impl StreamGauge {
    fn open() -> StreamGauge {
        metrics::gauge!("telegate_event_streams").increment(1.0);
        StreamGauge
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("telegate_event_streams").decrement(1.0);
    }
}

const BATCH: u32 = 500;

/// Reads the log after `cursor` and sends matching events until the receiver goes away or the
/// server shuts down. Waits on the bell (events written here) or the poll interval (events
/// written by another process).
async fn pump(state: AppState, filter: EventFilter, mut cursor: i64, tx: mpsc::Sender<Event>) {
    let _gauge = StreamGauge::open();
    let mut bell = state.inner.bell.subscribe();
    let mut bell_alive = true;
    let mut shutdown = state.inner.shutdown.clone();
    let poll = Duration::from_millis(state.config().events.poll_interval_ms.max(10));
    loop {
        if *shutdown.borrow() {
            return;
        }
        let batch = match state
            .store()
            .events_after(cursor, filter.single_account(), BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "event stream: reading the log failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(poll) => continue,
                    _ = tx.closed() => return,
                }
            }
        };
        let full = batch.len() as u32 == BATCH;
        for e in batch {
            cursor = e.id;
            if filter.matches(&e) && tx.send(e).await.is_err() {
                return;
            }
        }
        if full {
            continue;
        }
        bell.mark_unchanged();
        tokio::select! {
            changed = bell.changed(), if bell_alive => {
                if changed.is_err() {
                    bell_alive = false;
                }
            }
            _ = tokio::time::sleep(poll) => {}
            _ = tx.closed() => return,
            _ = shutdown.changed() => {}
        }
    }
}

fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    match headers.get("last-event-id") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("Last-Event-ID: expected an event id")),
    }
}

/// Stream events as Server-Sent Events; reconnect with `Last-Event-ID` to resume.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(StreamParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream", body = EventEnvelope,
            description = "One `data:` line per event (the envelope as JSON), with `id:` set to the event id"),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn sse(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> ApiResult<Response> {
    let (filter, cursor) = prepare(&state, &auth, &params, last_event_id(&headers)?).await?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(pump(state.clone(), filter, cursor, tx));
    let stream = ReceiverStream::new(rx).map(|e| {
        let envelope = EventEnvelope::from(&e);
        Ok::<_, Infallible>(
            SseEvent::default()
                .id(e.id.to_string())
                .data(serde_json::to_string(&envelope).unwrap_or_default()),
        )
    });
    let keepalive = Duration::from_secs(state.config().events.keepalive_secs.max(1));
    // A first comment flushes the response head at once, so clients know they are connected.
    let hello = futures_util::stream::once(async {
        Ok::<_, Infallible>(
            SseEvent::default()
                .comment("telegate event stream")
                .retry(Duration::from_secs(2)),
        )
    });
    Ok(Sse::new(hello.chain(stream))
        .keep_alive(KeepAlive::new().interval(keepalive))
        .into_response())
}

/// Stream events over a WebSocket (one text message per event envelope); reconnect with
/// `?after=<last id seen>` to resume.
#[utoipa::path(get, path = "/v1/events/ws", tag = "events", params(StreamParams),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn websocket(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<StreamParams>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Scopes first: a refused caller learns nothing more from an upgrade error.
    let (filter, cursor) = prepare(&state, &auth, &params, None).await?;
    let upgrade = upgrade.map_err(|r| {
        ApiError::invalid(format!(
            "expected a WebSocket upgrade request: {}",
            r.body_text()
        ))
    })?;
    Ok(upgrade.on_upgrade(move |socket| serve_socket(state, filter, cursor, socket)))
}

async fn serve_socket(state: AppState, filter: EventFilter, cursor: i64, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::channel(256);
    tokio::spawn(pump(state.clone(), filter, cursor, tx));
    let mut shutdown = state.inner.shutdown.clone();
    let mut keepalive = tokio::time::interval(Duration::from_secs(
        state.config().events.keepalive_secs.max(1),
    ));
    keepalive.tick().await;
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(e) = event else { break };
                let text = serde_json::to_string(&EventEnvelope::from(&e)).unwrap_or_default();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Clients have nothing to say; pings are answered by the library.
                Some(Ok(_)) => {}
            },
            _ = keepalive.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1001,
            reason: "the gateway is shutting down; reconnect with ?after=<last id>".into(),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns() {
        let f = TypeFilter::parse("message.*, chat.updated").unwrap();
        assert!(f.matches("message.new"));
        assert!(f.matches("message.edited"));
        assert!(f.matches("chat.updated"));
        assert!(!f.matches("chat.created"));
        assert!(!f.matches("messages.new"));
        assert!(TypeFilter::all().matches("anything"));
        assert!(TypeFilter::parse("Message!").is_err());
        assert!(TypeFilter::parse(".*").is_err());
        assert_eq!(TypeFilter::parse("").unwrap().to_text(), "*");
    }
}
