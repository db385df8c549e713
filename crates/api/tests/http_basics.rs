//! The API's conventions over real HTTP: probes, problem documents, request ids, body limits,
//! CORS, tokens with scopes and the verified-token cache.

use serde_json::{json, Value};
use telegate_store::NewAccount;
use telegate_testkit::gateway::{client_with_token, test_config, TestGateway};

async fn problem(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "status {status}"
    );
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn probes_docs_and_metrics_need_no_token() {
    let gw = TestGateway::start().await;
    let http = reqwest::Client::new();
    let live: Value = http
        .get(gw.at("/livez"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "ok");
    gw.store
        .create_account(NewAccount::user("+15550001"), "test")
        .await
        .unwrap();
    let ready: Value = http
        .get(gw.at("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["accounts"]["login_required"], 1, "{ready}");
    let api: Value = http
        .get(gw.at("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        api["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        api["openapi"]
    );
    assert!(api["paths"]["/v1/webhooks"].is_object());
    assert!(api["components"]["securitySchemes"]["bearer"].is_object());
    let docs = http.get(gw.at("/docs")).send().await.unwrap();
    assert!(docs.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
    // One request counted, then visible in the exposition.
    let _ = http.get(gw.at("/v1/token")).send().await.unwrap();
    let metrics = http
        .get(gw.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("telegate_http_requests_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn errors_are_problem_documents_with_request_ids() {
    let gw = TestGateway::start().await;
    let http = reqwest::Client::new();

    let r = http
        .get(gw.at("/v1/webhooks"))
        .header("x-request-id", "client-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "client-id-42",
        "a sane id is echoed"
    );
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (status, p) = problem(r).await;
    assert_eq!(status, 401);
    assert_eq!(p["code"], "UNAUTHENTICATED");
    assert_eq!(p["request_id"], "client-id-42");
    assert_eq!(p["instance"], "/v1/webhooks");
    assert_eq!(p["type"], "urn:telegate:error:UNAUTHENTICATED");

    let r = http
        .get(gw.at("/v1/webhooks"))
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.starts_with("req_"), "an unsafe id is replaced: {id}");

    let admin = gw.admin();
    let (status, p) = problem(admin.get(gw.at("/v1/nope")).send().await.unwrap()).await;
    assert_eq!((status, p["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, _) = problem(admin.put(gw.at("/v1/webhooks")).send().await.unwrap()).await;
    assert_eq!(status, 405);

    // Bad bodies name the problem.
    let (status, p) = problem(
        admin
            .post(gw.at("/v1/webhooks"))
            .json(&json!({"uri": "http://x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, p["code"].as_str()), (400, Some("INVALID_REQUEST")));
    assert!(p["detail"].as_str().unwrap().contains("uri"), "{p}");
    let (status, p) = problem(
        admin
            .post(gw.at("/v1/webhooks"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(p["detail"].as_str().unwrap().contains("malformed"), "{p}");
    let (status, p) = problem(
        admin
            .post(gw.at("/v1/webhooks"))
            .json(&json!({"url": "ftp://example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(p["detail"].as_str().unwrap().contains("url"), "{p}");
    let huge = "x".repeat(gw.config.http.body_limit_bytes as usize + 10);
    let (status, p) = problem(
        admin
            .post(gw.at("/v1/webhooks"))
            .json(&json!({ "url": "http://127.0.0.1:9/", "description": huge }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    let (status, p) = problem(admin.get(gw.at("/v1/webhooks/abc")).send().await.unwrap()).await;
    assert_eq!(status, 400, "{p}");
}

#[tokio::test]
async fn cors_is_off_by_default_and_configurable() {
    let preflight = |gw: &TestGateway| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, gw.at("/v1/webhooks"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "GET")
            .send()
    };
    let gw = TestGateway::start().await;
    let r = preflight(&gw).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let mut config = test_config();
    config.http.cors_origins = vec!["https://app.example.com".into()];
    let gw = TestGateway::start_with(config).await;
    let r = preflight(&gw).await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let r = reqwest::Client::new()
        .get(gw.at("/livez"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn tokens_are_shown_once_scoped_and_revocable() {
    let mut config = test_config();
    config.auth.token_cache_secs = 1;
    let gw = TestGateway::start_with(config).await;
    let a = gw
        .store
        .create_account(NewAccount::user("+15550001"), "test")
        .await
        .unwrap();
    let b = gw
        .store
        .create_account(NewAccount::user("+15550002"), "test")
        .await
        .unwrap();
    let admin = gw.admin();

    let create = |scopes: Value| {
        admin
            .post(gw.at("/v1/tokens"))
            .json(&json!({"name": "crm", "scopes": scopes}))
            .send()
    };
    let r = create(json!(["write", format!("account:{}", a.id)]))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let token_a = created["token"].as_str().unwrap().to_owned();
    assert!(token_a.starts_with("tgt_"));
    let listed: Value = admin
        .get(gw.at("/v1/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed_text = listed.to_string();
    assert!(
        !listed_text.contains(&token_a),
        "the token is shown once only"
    );
    assert!(listed_text.contains(created["prefix"].as_str().unwrap()));

    // Bad scopes and unknown accounts are refused with the reason.
    let (status, p) = problem(create(json!(["sudo"])).await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(p["detail"].as_str().unwrap().contains("sudo"));
    let (status, _) = problem(create(json!(["read", "account:999999"])).await.unwrap()).await;
    assert_eq!(status, 400);

    // The limited token: its account yes, the other one is "not found", admin routes 403.
    let ta = client_with_token(&token_a);
    let me: Value = ta
        .get(gw.at("/v1/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["scopes"], json!(["write", format!("account:{}", a.id)]));
    let r = ta
        .post(gw.at("/v1/webhooks"))
        .json(&json!({"url": "http://127.0.0.1:9/", "account_id": a.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, p) = problem(
        ta.post(gw.at("/v1/webhooks"))
            .json(&json!({"url": "http://127.0.0.1:9/", "account_id": b.id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (404, Some("ACCOUNT_NOT_FOUND"))
    );
    let (status, _) = problem(
        ta.post(gw.at("/v1/webhooks"))
            .json(&json!({"url": "http://127.0.0.1:9/"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status, 403,
        "a limited token cannot subscribe to every account"
    );
    let (status, _) = problem(ta.get(gw.at("/v1/tokens")).send().await.unwrap()).await;
    assert_eq!(status, 403);

    // A read-only token cannot write.
    let r: Value = create(json!(["read"])).await.unwrap().json().await.unwrap();
    let reader = client_with_token(r["token"].as_str().unwrap());
    assert_eq!(
        reader
            .get(gw.at("/v1/webhooks"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, p) = problem(
        reader
            .post(gw.at("/v1/webhooks"))
            .json(&json!({"url": "http://127.0.0.1:9/"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, p["code"].as_str()), (403, Some("FORBIDDEN")));

    // Revoked through the API: refused at once.
    let id = created["id"].as_i64().unwrap();
    let r = admin
        .delete(gw.at(&format!("/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        ta.get(gw.at("/v1/token")).send().await.unwrap().status(),
        401
    );

    // Revoked behind the gateway's back (the CLI, another gateway): refused once the cache
    // entry is older than auth.token_cache_secs.
    let reader_id = r_id(&admin, &gw, "read").await;
    assert!(gw.store.revoke_api_token(reader_id, "cli").await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        reader
            .get(gw.at("/v1/token"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // The audit log recorded creations and revocations.
    let audit: Value = admin
        .get(gw.at("/v1/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"token_created") && actions.contains(&"token_revoked"),
        "{actions:?}"
    );
    assert!(!audit.to_string().contains(&token_a));
}

async fn r_id(admin: &reqwest::Client, gw: &TestGateway, only_scope: &str) -> i64 {
    let listed: Value = admin
        .get(gw.at("/v1/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scopes"] == json!([only_scope]))
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}
