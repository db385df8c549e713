//! The OpenAPI 3.1 document (collected by utoipa-axum from the same routers that serve the
//! API, so the two cannot drift) at `/openapi.json`, and a docs page at `/docs`.
//!
//! The docs page is a few lines of HTML that load the Scalar renderer from a CDN in the reader's
//! browser: nothing is downloaded at build time and the gateway serves no bundled JavaScript.

use std::sync::Arc;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};
use utoipa::{PartialSchema, ToSchema};

use crate::AppState;

/// Adds what is not attached to a route: info, the bearer scheme (required everywhere unless a
/// route says `security(())`), and shared schemas.
pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("telegate")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A self-hosted Telegram account gateway. Authenticate with `Authorization: Bearer \
             <API token>`. Errors are RFC 9457 problem documents (`application/problem+json`) \
             with a stable `code`; see the Problem schema. Lists are cursor-paginated \
             (`limit`, `cursor` → `next_cursor`). Times are RFC 3339.",
        ))
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.schemas.insert(
        crate::Problem::name().into_owned(),
        crate::Problem::schema(),
    );
    api.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    api
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>telegate API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
  <noscript>The interactive reference needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
  <script id="api-reference" data-url="/openapi.json"></script>
  <script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
</body>
</html>
"#;

/// `/openapi.json` and `/docs` (no token needed: the document is the API's public contract).
pub fn router(api: Arc<OpenApi>) -> Router<AppState> {
    let json = Arc::new(api.to_json().unwrap_or_else(|_| "{}".into()));
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        (*json).clone(),
                    )
                        .into_response()
                }
            }),
        )
        .route("/docs", get(|| async { Html(DOCS_HTML) }))
}
