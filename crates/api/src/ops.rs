//! Operations endpoints: `/livez` (the process answers), `/readyz` (the database answers;
//! accounts by state), `/metrics` (Prometheus text), and the audit log (`/v1/audit`, admin).
//!
//! The probes and `/metrics` need no token, as orchestrators and scrapers expect; they reveal
//! counts, never account data. Bind the gateway to a private address (the default is
//! loopback) or filter these paths at the proxy when that matters.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use telegate_core::ErrorCode;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::{rfc3339, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(livez))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
}

pub fn audit_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

/// The process-wide Prometheus recorder, installed on first use. `None` when another recorder
/// was installed first (e.g. by an embedding program).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Prometheus recorder not installed; /metrics will be empty");
                None
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "telegate_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        "telegate_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (to the response head), by route template"
    );
    metrics::describe_counter!(
        "telegate_api_errors_total",
        "Problem responses, by stable error code"
    );
    metrics::describe_counter!(
        "telegate_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (delivered, retry, dead)"
    );
    metrics::describe_gauge!(
        "telegate_event_streams",
        "Open SSE and WebSocket event streams"
    );
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Live {
    /// Always `ok`.
    pub status: String,
    pub uptime_secs: u64,
    pub version: String,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/livez", tag = "operations", security(()),
    responses((status = 200, body = Live)))]
async fn livez(State(state): State<AppState>) -> Json<Live> {
    Json(Live {
        status: "ok".into(),
        uptime_secs: state.inner.started.elapsed().as_secs(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// `ok`.
    pub database: String,
    /// Number of accounts in each state (`connected`, `login_required`, …).
    pub accounts: BTreeMap<String, u64>,
}

/// Readiness: the database answers; accounts by state. 503 (problem) when not ready.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, body = Ready),
        (status = 503, body = crate::Problem, content_type = "application/problem+json")))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Ready>> {
    let unavailable = |e: Option<telegate_store::StoreError>| {
        let mut err = telegate_core::CoreError::new(
            ErrorCode::StorageUnavailable,
            "the database is not answering",
        );
        if let Some(e) = e {
            err = err.with_internal(e);
        }
        ApiError::from(err)
    };
    if *state.inner.shutdown.borrow() {
        return Err(ApiError::new(
            ErrorCode::ShuttingDown,
            "the gateway is shutting down",
        ));
    }
    let probe = async {
        state.store().ping().await?;
        state.store().account_state_counts().await
    };
    let counts = match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(counts)) => counts,
        Ok(Err(e)) => return Err(unavailable(Some(e))),
        Err(_) => return Err(unavailable(None)),
    };
    Ok(Json(Ready {
        status: "ready".into(),
        database: "ok".into(),
        accounts: counts
            .into_iter()
            .map(|(s, n)| (s.as_str().to_owned(), n))
            .collect(),
    }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    let body = state
        .inner
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries about this account.
    pub account: Option<i64>,
    /// Entries with an id above this one (resume from the last `id` seen).
    pub after: Option<i64>,
    /// 1–500, default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<i64>,
    /// Who did it: `token:<id>`, `bootstrap-token`, `cli`, `system`.
    pub actor: String,
    /// `login`, `session_export`, `token_created`, …
    pub action: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
}

/// The audit log of security-relevant actions (admin), oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "operations", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = "4XX", body = crate::Problem, content_type = "application/problem+json")))]
async fn audit_log(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    auth.require_admin()?;
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=500) => n,
        Some(n) => return Err(ApiError::invalid(format!("limit = {n}: expected 1 to 500"))),
    };
    let rows = state
        .store()
        .audit_log(q.account, q.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(AuditPage {
        items: rows
            .into_iter()
            .map(|r| AuditEntryView {
                id: r.id,
                account_id: r.account_id,
                actor: r.actor,
                action: r.action,
                details: r.details,
                created_at: rfc3339(r.created_at),
            })
            .collect(),
    }))
}
