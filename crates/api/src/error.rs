//! Errors as HTTP answers: one [`ApiError`] wrapping the product's [`CoreError`], turned into an
//! RFC 9457 `application/problem+json` body by a single `IntoResponse`.
//!
//! Why one place: the status, the stable `code`, the retry hint and the `Retry-After` header all
//! come mechanically from [`ErrorCode`]; handlers only ever build a `CoreError` (or convert a
//! store error into one). Internal causes are logged here with the request id and never
//! returned: a 500 body says "internal error" and the id to quote.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use telegate_core::{CoreError, ErrorCode, RetryHint};
use utoipa::ToSchema;

use crate::context;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub error: CoreError,
    /// Only for framework-level answers that have no product code of their own (405): the
    /// body still carries a stable code, the status line says what HTTP expects.
    status_override: Option<StatusCode>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CoreError::new(code, message).into()
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, format!("{} not found", what.into()))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        CoreError::internal(cause).into()
    }

    pub fn method_not_allowed() -> Self {
        Self {
            error: CoreError::invalid("this method is not allowed on this path"),
            status_override: Some(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.error.code
    }

    pub fn status(&self) -> StatusCode {
        self.status_override.unwrap_or_else(|| {
            StatusCode::from_u16(self.error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        Self {
            error,
            status_override: None,
        }
    }
}

impl From<telegate_store::StoreError> for ApiError {
    fn from(e: telegate_store::StoreError) -> Self {
        CoreError::from(e).into()
    }
}

/// The problem document (RFC 9457) every error answers with.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the error type: `urn:telegate:error:<CODE>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the error type (the stable code, humanised).
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for the developer; never contains secrets or internal details.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The product's stable error code (e.g. `FLOOD_WAIT`): switch on this.
    #[schema(example = "FLOOD_WAIT")]
    pub code: String,
    /// `never`, `after` (wait `retry_after` seconds), `backoff`, or `after_action`.
    pub retry: String,
    /// Seconds to wait before retrying, when known (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
    /// The request id (also the `x-request-id` header): quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The Telegram error behind this one, verbatim, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramError>,
}

/// A Telegram RPC error as Telegram sent it.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct TelegramError {
    pub code: i32,
    /// e.g. `FLOOD_WAIT_31`.
    pub name: String,
}

/// `FLOOD_WAIT` → `Flood wait`.
fn title_of(code: ErrorCode) -> String {
    let lower = code.as_str().replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => lower,
    }
}

fn retry_name(hint: RetryHint) -> &'static str {
    match hint {
        RetryHint::Never => "never",
        RetryHint::After => "after",
        RetryHint::Backoff => "backoff",
        RetryHint::AfterAction => "after_action",
    }
}

impl ApiError {
    /// The problem document for this error (also used by the WebSocket close reason).
    pub fn problem(&self) -> Problem {
        let ctx = context::current();
        let e = &self.error;
        Problem {
            type_uri: format!("urn:telegate:error:{}", e.code.as_str()),
            title: title_of(e.code),
            status: self.status().as_u16(),
            detail: e.message.clone(),
            instance: ctx.as_ref().map(|c| c.path.clone()),
            code: e.code.as_str().to_string(),
            retry: retry_name(e.code.retry_hint()).to_string(),
            retry_after: e.retry_after,
            request_id: ctx.map(|c| c.request_id),
            telegram: e.telegram.as_ref().map(|t| TelegramError {
                code: t.code,
                name: t.name.clone(),
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let e = &self.error;
        if let Some(cause) = &e.internal {
            // The cause may be anything (a driver error, a bug); it goes to the log only.
            if status.is_server_error() {
                tracing::error!(code = %e.code, cause = %cause, "request failed");
            } else {
                tracing::warn!(code = %e.code, cause = %cause, "request failed");
            }
        } else if status.is_server_error() {
            tracing::warn!(code = %e.code, detail = %e.message, "request failed");
        }
        metrics::counter!("telegate_api_errors_total", "code" => e.code.as_str()).increment(1);
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if e.code == ErrorCode::Unauthenticated {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"telegate\""),
            );
        }
        if let Some(seconds) = e.retry_after {
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_read_like_words() {
        assert_eq!(title_of(ErrorCode::FloodWait), "Flood wait");
        assert_eq!(title_of(ErrorCode::Internal), "Internal");
    }

    #[test]
    fn every_code_has_a_valid_status() {
        for code in ErrorCode::ALL {
            let e = ApiError::new(*code, "x");
            assert_eq!(e.status().as_u16(), code.http_status(), "{code}");
        }
    }

    #[test]
    fn waits_set_retry_after() {
        let e: ApiError = CoreError::from_rpc(420, "FLOOD_WAIT", Some(31)).into();
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "31");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let e: ApiError = CoreError::new(ErrorCode::QueueFull, "full")
            .with_retry_after(2)
            .into();
        assert_eq!(e.into_response().headers()[header::RETRY_AFTER], "2");
        let e: ApiError = CoreError::new(ErrorCode::InvalidRequest, "x")
            .with_retry_after(2)
            .into();
        assert!(e
            .into_response()
            .headers()
            .get(header::RETRY_AFTER)
            .is_none());
    }

    #[test]
    fn internal_causes_are_not_in_the_body() {
        let e = ApiError::internal(std::io::Error::other("password=hunter2 at db.rs:12"));
        let problem = e.problem();
        assert_eq!(problem.code, "INTERNAL");
        assert!(!serde_json::to_string(&problem).unwrap().contains("hunter2"));
    }
}
