//! Per-request context: the request id (taken from a client's `x-request-id` when it is sane,
//! generated otherwise), echoed in the response, attached to the log span, and readable by the
//! error mapper through a task-local so problem bodies carry it without threading it through
//! every handler. Also the access log and the HTTP metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the error mapper needs to know about the request being served.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The path without the query string (queries may carry `access_token`).
    pub path: String,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The context of the request this task is serving, if any.
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// A client-supplied id is kept when it is short and made of safe characters (it goes into
/// logs and headers); anything else is replaced.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn generate() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // Not a secret: uniqueness is all that matters, and the clock is good enough then.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    format!("req_{}", hex::encode(bytes))
}

/// Settings of [`middleware`].
#[derive(Debug, Clone, Copy)]
pub struct AccessLog {
    /// Log every request at info (otherwise at debug; errors are always logged).
    pub log_requests: bool,
}

/// The outermost middleware: request id, span, access log, metrics.
pub async fn middleware(
    axum::extract::State(log): axum::extract::State<AccessLog>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(generate);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The route template, not the concrete path: bounded label cardinality.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span =
        tracing::info_span!("http", request_id = %request_id, method = %method, path = %path);
    let ctx = RequestContext {
        request_id: request_id.clone(),
        path: path.clone(),
    };
    let mut response = CONTEXT
        .scope(ctx, next.run(request).instrument(span.clone()))
        .await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!("telegate_http_requests_total",
        "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string())
    .increment(1);
    metrics::histogram!("telegate_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    let _entered = span.enter();
    let micros = elapsed.as_micros() as u64;
    if status >= 500 {
        tracing::warn!(status, micros, "request");
    } else if log.log_requests {
        tracing::info!(status, micros, "request");
    } else {
        tracing::debug!(status, micros, "request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(acceptable("abc-123_x.y:z"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable(&"x".repeat(129)));
        assert!(generate().starts_with("req_"));
        assert_ne!(generate(), generate());
    }
}
