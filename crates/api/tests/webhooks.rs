//! Webhooks over real HTTP: a local receiver that fails the first 3 deliveries then accepts,
//! verifying the Standard Webhooks signature itself; delivery history; dead-lettering after
//! the retry window and manual redelivery; CRUD and scopes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use telegate_store::{NewAccount, NewEvent};
use telegate_testkit::gateway::{test_config, TestGateway};

#[derive(Default)]
struct Receiver {
    /// Every request: (headers, body).
    requests: Vec<(HeaderMap, String)>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
}

/// An independent verifier (not the gateway's `sign`): the spec's algorithm, written out.
fn verify(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let id = headers["webhook-id"].to_str().unwrap();
    let ts = headers["webhook-timestamp"].to_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts.parse::<i64>().unwrap()).abs() > 300 {
        return false;
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    headers["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .any(|s| s == expected)
}

async fn start_receiver(fail_first: usize) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        fail_first,
        ..Default::default()
    }));
    let s = state.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let mut r = s.lock().unwrap();
                r.requests.push((headers, body));
                if r.requests.len() <= r.fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

async fn eventually<F: FnMut() -> bool>(mut f: F) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_signed_after_three_failures() {
    let gw = TestGateway::start().await;
    let account = gw
        .store
        .create_account(NewAccount::user("+15550001"), "t")
        .await
        .unwrap();
    let other = gw
        .store
        .create_account(NewAccount::user("+15550002"), "t")
        .await
        .unwrap();
    let (url, receiver) = start_receiver(3).await;
    let admin = gw.admin();
    let r = admin
        .post(gw.at("/v1/webhooks"))
        .json(
            &json!({"url": url, "account_id": account.id, "types": ["message.*"],
                      "description": "CRM"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let hook: Value = r.json().await.unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let hook_id = hook["id"].as_i64().unwrap();
    let listed = get_json(&admin, &gw.at("/v1/webhooks")).await;
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );

    // Not for this webhook: another account, another type. Then the one it wants.
    gw.store
        .append_events(&[
            NewEvent {
                account_id: Some(other.id),
                kind: "message.new".into(),
                payload: json!({"text": "not yours"}),
            },
            NewEvent {
                account_id: Some(account.id),
                kind: "chat.updated".into(),
                payload: json!({}),
            },
        ])
        .await
        .unwrap();
    let ids = gw
        .store
        .append_events(&[NewEvent {
            account_id: Some(account.id),
            kind: "message.new".into(),
            payload: json!({"text": "hello"}),
        }])
        .await
        .unwrap();
    gw.bell.ring(ids[0]);

    eventually(|| receiver.lock().unwrap().requests.len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let r = receiver.lock().unwrap();
        assert_eq!(
            r.requests.len(),
            4,
            "three failures then one success, nothing more"
        );
        for (headers, body) in &r.requests {
            assert!(verify(&secret, headers, body), "signature verifies");
            assert_eq!(
                headers["webhook-id"],
                format!("evt_{}", ids[0]),
                "same id on retries"
            );
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["id"], ids[0]);
            assert_eq!(v["type"], "message.new");
            assert_eq!(v["account_id"], account.id);
            assert_eq!(v["data"]["text"], "hello");
        }
        assert!(!verify(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            &r.requests[3].0,
            &r.requests[3].1
        ));
    }

    // The history shows it.
    let deliveries = get_json(
        &admin,
        &gw.at(&format!("/v1/webhooks/{hook_id}/deliveries")),
    )
    .await;
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["state"], "delivered");
    assert_eq!(items[0]["last_status"], 204);
    let d_id = items[0]["id"].as_i64().unwrap();
    let detail = get_json(
        &admin,
        &gw.at(&format!("/v1/webhooks/{hook_id}/deliveries/{d_id}")),
    )
    .await;
    let statuses: Vec<i64> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 500, 204]);

    // Manual redelivery sends it once more.
    let r = admin
        .post(gw.at(&format!(
            "/v1/webhooks/{hook_id}/deliveries/{d_id}/redeliver"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eventually(|| receiver.lock().unwrap().requests.len() == 5).await;

    // PATCH pauses it; DELETE removes it and its history.
    let r = admin
        .patch(gw.at(&format!("/v1/webhooks/{hook_id}")))
        .json(&json!({"enabled": false, "description": null}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["enabled"], false);
    assert!(v.get("description").is_none());
    let ids = gw
        .store
        .append_events(&[NewEvent {
            account_id: Some(account.id),
            kind: "message.new".into(),
            payload: json!({}),
        }])
        .await
        .unwrap();
    gw.bell.ring(ids[0]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.lock().unwrap().requests.len(), 5, "paused");
    let r = admin
        .delete(gw.at(&format!("/v1/webhooks/{hook_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = admin
        .get(gw.at(&format!("/v1/webhooks/{hook_id}/deliveries")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn deliveries_are_dead_lettered_after_the_window_and_can_be_redelivered() {
    let mut config = test_config();
    config.webhooks.retry_window_secs = 1;
    let gw = TestGateway::start_with(config).await;
    let (url, receiver) = start_receiver(usize::MAX).await;
    let admin = gw.admin();
    let hook: Value = admin
        .post(gw.at("/v1/webhooks"))
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook_id = hook["id"].as_i64().unwrap();
    let ids = gw
        .store
        .append_events(&[NewEvent {
            account_id: None,
            kind: "gateway.test".into(),
            payload: json!({}),
        }])
        .await
        .unwrap();
    gw.bell.ring(ids[0]);
    let dead_url = gw.at(&format!("/v1/webhooks/{hook_id}/deliveries?state=dead"));
    let mut dead = Value::Null;
    for _ in 0..100 {
        dead = get_json(&admin, &dead_url).await;
        if !dead["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let item = &dead["items"][0];
    assert_eq!(item["state"], "dead", "{dead}");
    assert!(item["last_error"].as_str().unwrap().contains("500"));
    let tries = receiver.lock().unwrap().requests.len();
    assert!(
        (2..=8).contains(&tries),
        "retried with backoff within the window: {tries}"
    );

    // Redelivery starts a new window: the receiver now accepts.
    receiver.lock().unwrap().fail_first = 0;
    let d_id = item["id"].as_i64().unwrap();
    let r = admin
        .post(gw.at(&format!(
            "/v1/webhooks/{hook_id}/deliveries/{d_id}/redeliver"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let delivered_url = gw.at(&format!(
        "/v1/webhooks/{hook_id}/deliveries?state=delivered"
    ));
    for _ in 0..100 {
        let v = get_json(&admin, &delivered_url).await;
        if !v["items"].as_array().unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the redelivery did not succeed");
}
