//! telegate's HTTP API (issue 7): the only crate that knows HTTP. REST under `/v1` described by
//! OpenAPI 3.1, RFC 9457 problem+json errors mapped from `telegate_core::ErrorCode`, API tokens
//! with scopes, SSE/WebSocket streams from the durable event log, signed webhooks, operations
//! endpoints.
//!
//! Shape (after mini-redis and realworld-axum-sqlx): [`Server::new`] builds the shared state,
//! [`Server::run`] serves a bound listener until the shutdown future resolves, and every module
//! contributes one `router()`; the OpenAPI document is collected from the same routers
//! (utoipa-axum), so a route cannot exist without being documented.

pub mod accounts;
pub mod auth;
pub mod chats;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod extract;
pub mod logging;
pub mod messages;
pub mod openapi;
pub mod ops;
pub mod sessions;
pub mod tokens;
pub mod uploads;
pub mod webhooks;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Method};
use axum::Router;
use secrecy::SecretString;
use telegate_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;

pub use config::Config;
pub use error::{ApiError, ApiResult, Problem};

/// Rings when events were appended, so streams and the webhook dispatcher wake at once instead
/// of at their next poll. Cheap to clone; the value is the last event id known to be written.
#[derive(Debug, Clone)]
pub struct EventBell {
    tx: Arc<watch::Sender<i64>>,
}

impl EventBell {
    pub fn new(last_id: i64) -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(last_id)),
        }
    }

    /// Tells listeners that events up to `last_id` are durable.
    pub fn ring(&self, last_id: i64) {
        self.tx.send_if_modified(|v| {
            if last_id > *v {
                *v = last_id;
                true
            } else {
                false
            }
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.tx.subscribe()
    }
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub tokens: auth::TokenVerifier,
    pub bell: EventBell,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub started: Instant,
    /// Flips to true when the server starts shutting down: long-lived streams end.
    pub shutdown: watch::Receiver<bool>,
    pub shutdown_tx: watch::Sender<bool>,
    pub worker: worker::WorkerHandle,
    /// The account runtime; `None` when this process serves only the gateway-wide routes
    /// (tokens, webhooks, events), as some tests and tools do.
    pub gateway: Option<telegate_core::Gateway>,
    /// One lock per upload: a PATCH holds it while it writes and sends parts, so a HEAD right
    /// after a broken connection answers the offset that PATCH finally reached.
    pub upload_locks: uploads::Locks,
}

impl AppState {
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The account runtime, or 503 RUNTIME_UNAVAILABLE.
    pub fn gateway(&self) -> ApiResult<&telegate_core::Gateway> {
        self.inner.gateway.as_ref().ok_or_else(|| {
            ApiError::new(
                telegate_core::ErrorCode::RuntimeUnavailable,
                "this process serves the API without the account runtime",
            )
        })
    }
}

/// What [`Server::new`] needs.
pub struct ServerOptions {
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// `TELEGATE_BOOTSTRAP_TOKEN`: accepted as an admin token.
    pub bootstrap_token: Option<SecretString>,
    /// The account runtime behind the account routes (see [`AppState::gateway`]).
    pub gateway: Option<telegate_core::Gateway>,
}

/// The HTTP server: state plus routers.
pub struct Server {
    state: AppState,
}

impl Server {
    /// Builds the server (installing the Prometheus recorder on first use in the process).
    pub async fn new(opts: ServerOptions) -> Result<Server, ApiError> {
        let last = opts.store.last_event_id().await?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let tokens = auth::TokenVerifier::new(
            opts.store.clone(),
            Duration::from_secs(opts.config.auth.token_cache_secs),
            opts.bootstrap_token.as_ref(),
        );
        let bell = EventBell::new(last);
        if let Some(gw) = &opts.gateway {
            // The runtime appends events through its own writer; forward its "written up to"
            // signal so streams and webhooks wake at once.
            let mut written = gw.subscribe_events();
            let bell = bell.clone();
            tokio::spawn(async move {
                while written.changed().await.is_ok() {
                    let last = *written.borrow_and_update();
                    bell.ring(last);
                }
            });
        }
        let inner = Inner {
            store: opts.store,
            tokens,
            bell,
            metrics: ops::prometheus(),
            started: Instant::now(),
            shutdown,
            shutdown_tx,
            worker: worker::WorkerHandle::default(),
            config: opts.config,
            gateway: opts.gateway,
            upload_locks: Default::default(),
        };
        Ok(Server {
            state: AppState {
                inner: Arc::new(inner),
            },
        })
    }

    /// The bell the runtime rings after appending events.
    pub fn event_bell(&self) -> EventBell {
        self.state.inner.bell.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Every route with its documentation (before state and the outer middleware). Streams
    /// are not subject to the request timeout: their response starts at once and the body
    /// runs for as long as the client stays.
    pub fn routes(timeout: Duration) -> OpenApiRouter<AppState> {
        let deadline_bound = OpenApiRouter::new()
            .merge(tokens::router())
            .merge(webhooks::router())
            .merge(ops::audit_router())
            .merge(accounts::router())
            .merge(chats::router())
            .merge(messages::router())
            .merge(sessions::router())
            .layer(axum::middleware::from_fn_with_state(
                TimeoutSetting(timeout),
                request_timeout,
            ));
        OpenApiRouter::new()
            .merge(deadline_bound)
            .merge(events::router())
            // Uploads and downloads move whole files: their time is the body's, not a
            // request deadline's.
            .merge(uploads::router())
            .merge(ops::router())
    }

    /// The OpenAPI document (also served at `/openapi.json`).
    pub fn openapi() -> utoipa::openapi::OpenApi {
        let (_, api) = Self::routes(Duration::from_secs(30)).split_for_parts();
        openapi::finish(api)
    }

    /// The complete application: routes, docs, middleware.
    pub fn router(&self) -> Router {
        let config = &self.state.inner.config;
        let timeout = Duration::from_secs(config.http.request_timeout_secs.max(1));
        let (router, api) = Self::routes(timeout).split_for_parts();
        let api = Arc::new(openapi::finish(api));
        let mut router = router
            .merge(openapi::router(api))
            .fallback(|| async {
                ApiError::new(telegate_core::ErrorCode::NotFound, "no such route")
            })
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
            .layer(axum::extract::DefaultBodyLimit::max(
                config.http.body_limit_bytes as usize,
            ))
            .with_state(self.state.clone());
        if let Some(cors) = cors_layer(&config.http.cors_origins) {
            router = router.layer(cors);
        }
        router
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                |_: Box<dyn std::any::Any + Send>| {
                    axum::response::IntoResponse::into_response(ApiError::internal(
                        "a request handler panicked",
                    ))
                },
            ))
            .layer(
                tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer::new([
                    axum::http::header::AUTHORIZATION,
                ]),
            )
            .layer(axum::middleware::from_fn_with_state(
                context::AccessLog {
                    log_requests: config.log.requests,
                },
                context::middleware,
            ))
    }

    /// Serves `listener` until `shutdown` resolves, with the webhook worker alongside; then
    /// ends streams, drains in-flight requests and stops the worker.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let worker = if self.state.inner.config.webhooks.enabled {
            Some(tokio::spawn(worker::run(self.state.clone())))
        } else {
            None
        };
        let sweeper = tokio::spawn(uploads::sweep(self.state.clone()));
        let app = self.router();
        let shutdown_tx = self.state.inner.shutdown_tx.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: ending streams, draining requests");
            let _ = shutdown_tx.send(true);
        };
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await;
        let _ = self.state.inner.shutdown_tx.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        let _ = sweeper.await;
        served
    }
}

/// The request deadline (from `http.request_timeout_secs`).
#[derive(Debug, Clone, Copy)]
pub struct TimeoutSetting(Duration);

async fn request_timeout(
    axum::extract::State(TimeoutSetting(limit)): axum::extract::State<TimeoutSetting>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::new(
            telegate_core::ErrorCode::Timeout,
            format!("the request took longer than {} s", limit.as_secs()),
        )),
    }
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
                Method::HEAD,
                Method::OPTIONS,
            ])
            .allow_headers(tower_http::cors::Any)
            .expose_headers(tower_http::cors::Any)
            .max_age(Duration::from_secs(600)),
    )
}

/// Unix milliseconds → RFC 3339 (the API's time format).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// RFC 3339 → Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}
