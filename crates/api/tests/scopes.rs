//! Every route's access rules, with the route list taken from the OpenAPI document the server
//! generates from its routers: a new route fails this test until it is classified here.
//!
//! For each route: no token → 401; an unknown token → 401; an admin route with a read/write
//! token → 403; a write route with a read-only token → 403; another account's resource with a
//! token limited to one account → 404 (as if it did not exist); list routes answer such a token
//! without the other account's data; and the route works when allowed (so the refusals above
//! are about scopes, not a broken request).

use std::collections::BTreeSet;

use serde_json::{json, Value};
use std::time::Duration;
use telegate_api::Server;

use telegate_core::AccountState;
use telegate_mockdc_client::NewUser;
use telegate_store::{DeliveryQuery, NewEvent};
use telegate_testkit::gateway::{client_with_token, TestGateway};
use telegate_testkit::TestMock;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// No token needed (probes, metrics).
    Public,
    /// Any valid token.
    AnyToken,
    /// Read access to the resource's account.
    Read,
    /// Write access to the resource's account.
    Write,
    /// Write access without an account limit (creating accounts).
    UnlimitedWrite,
    Admin,
}

/// `(method, OpenAPI path, need, body)`. Path parameters are filled with resources of the
/// *other* account (B), see `concrete`.
fn table() -> Vec<(&'static str, &'static str, Need, Option<Value>)> {
    use Need::*;
    vec![
        ("get", "/livez", Public, None),
        ("get", "/readyz", Public, None),
        ("get", "/metrics", Public, None),
        ("get", "/v1/token", AnyToken, None),
        ("get", "/v1/tokens", Admin, None),
        (
            "post",
            "/v1/tokens",
            Admin,
            Some(json!({"name": "x", "scopes": ["read"]})),
        ),
        ("delete", "/v1/tokens/{token}", Admin, None),
        ("get", "/v1/audit", Admin, None),
        ("get", "/v1/events", Read, None),
        ("get", "/v1/events/ws", Read, None),
        ("get", "/v1/webhooks", Read, None),
        (
            "post",
            "/v1/webhooks",
            Write,
            Some(json!({"url": "http://127.0.0.1:9/new", "account_id": "{B}"})),
        ),
        ("get", "/v1/webhooks/{webhook}", Read, None),
        (
            "patch",
            "/v1/webhooks/{webhook}",
            Write,
            Some(json!({"enabled": true})),
        ),
        ("delete", "/v1/webhooks/{webhook}", Write, None),
        ("get", "/v1/webhooks/{webhook}/deliveries", Read, None),
        (
            "get",
            "/v1/webhooks/{webhook}/deliveries/{delivery}",
            Read,
            None,
        ),
        (
            "post",
            "/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver",
            Write,
            None,
        ),
        // ---- accounts and their resources (the runtime answers them, against the mock) ----
        ("get", "/v1/accounts", Read, None),
        (
            "post",
            "/v1/accounts",
            UnlimitedWrite,
            Some(json!({"phone": "+15550999"})),
        ),
        ("get", "/v1/accounts/{account}", Read, None),
        ("delete", "/v1/accounts/{account}", Write, None),
        ("get", "/v1/accounts/{account}/login", Read, None),
        ("post", "/v1/accounts/{account}/login", Write, None),
        (
            "post",
            "/v1/accounts/{account}/login/code",
            Write,
            Some(json!({"code": "12345"})),
        ),
        (
            "post",
            "/v1/accounts/{account}/login/password",
            Write,
            Some(json!({"password": "x"})),
        ),
        ("post", "/v1/accounts/{account}/login/qr", Write, None),
        ("post", "/v1/accounts/{account}/reconnect", Write, None),
        ("post", "/v1/accounts/{account}/stop", Write, None),
        ("get", "/v1/accounts/{account}/authorizations", Read, None),
        (
            "delete",
            "/v1/accounts/{account}/authorizations/{hash}",
            Write,
            None,
        ),
        ("get", "/v1/accounts/{account}/chats", Read, None),
        (
            "post",
            "/v1/accounts/{account}/chats",
            Write,
            Some(json!({"kind": "supergroup", "title": "x"})),
        ),
        ("post", "/v1/accounts/{account}/chats/sync", Write, None),
        ("get", "/v1/accounts/{account}/chats/{peer}", Read, None),
        (
            "patch",
            "/v1/accounts/{account}/chats/{peer}",
            Write,
            Some(json!({"title": "y"})),
        ),
        (
            "post",
            "/v1/accounts/{account}/chats/{peer}/members",
            Write,
            Some(json!({"user": "me"})),
        ),
        (
            "delete",
            "/v1/accounts/{account}/chats/{peer}/members/{user}",
            Write,
            None,
        ),
        (
            "post",
            "/v1/accounts/{account}/chats/{peer}/members/{user}/promote",
            Write,
            Some(json!({})),
        ),
        (
            "get",
            "/v1/accounts/{account}/chats/{peer}/invite-links",
            Read,
            None,
        ),
        (
            "post",
            "/v1/accounts/{account}/chats/{peer}/invite-links",
            Write,
            Some(json!({})),
        ),
        (
            "delete",
            "/v1/accounts/{account}/chats/{peer}/invite-links/{link}",
            Write,
            None,
        ),
        (
            "get",
            "/v1/accounts/{account}/chats/{peer}/invite-links/{link}/importers",
            Read,
            None,
        ),
        (
            "get",
            "/v1/accounts/{account}/chats/{peer}/messages",
            Read,
            None,
        ),
        (
            "post",
            "/v1/accounts/{account}/chats/{peer}/messages",
            Write,
            Some(json!({"text": "x"})),
        ),
        (
            "patch",
            "/v1/accounts/{account}/chats/{peer}/messages/{id}",
            Write,
            Some(json!({"text": "y"})),
        ),
        (
            "delete",
            "/v1/accounts/{account}/chats/{peer}/messages/{id}",
            Write,
            None,
        ),
        (
            "post",
            "/v1/accounts/{account}/chats/{peer}/messages/{id}/forward",
            Write,
            Some(json!({"to": "me"})),
        ),
        (
            "post",
            "/v1/accounts/{account}/chats/{peer}/read",
            Write,
            Some(json!({})),
        ),
        (
            "get",
            "/v1/accounts/{account}/chats/{peer}/search",
            Read,
            None,
        ),
        ("get", "/v1/accounts/{account}/contacts", Read, None),
        (
            "post",
            "/v1/accounts/{account}/contacts",
            Write,
            Some(json!({"contacts": [{"phone": "+15550998", "first_name": "X"}]})),
        ),
        (
            "delete",
            "/v1/accounts/{account}/contacts/{user}",
            Write,
            None,
        ),
        (
            "get",
            "/v1/accounts/{account}/resolve/{username}",
            Read,
            None,
        ),
        ("post", "/v1/accounts/{account}/uploads", Write, None),
        ("options", "/v1/accounts/{account}/uploads", Read, None),
        ("get", "/v1/accounts/{account}/media/{media}", Read, None),
        (
            "post",
            "/v1/accounts/{account}/chats/join",
            Write,
            Some(json!({"link": "https://t.me/+AAAA"})),
        ),
        ("get", "/v1/accounts/{account}/uploads/{upload}", Read, None),
        (
            "patch",
            "/v1/accounts/{account}/uploads/{upload}",
            Write,
            None,
        ),
        (
            "delete",
            "/v1/accounts/{account}/uploads/{upload}",
            Write,
            None,
        ),
        (
            "get",
            "/v1/accounts/{account}/chats/{peer}/messages/{id}/media",
            Read,
            None,
        ),
        (
            "post",
            "/v1/sessions/import",
            Admin,
            Some(json!({"format": "telethon", "session": "1AAAA"})),
        ),
        (
            "post",
            "/v1/sessions/export",
            Admin,
            Some(json!({"account": "{B}", "format": "telethon"})),
        ),
    ]
}

struct Fixture {
    b: i64,
    /// A supergroup B created, a message B posted there, one of its invite links (hash).
    group_b: i64,
    message_b: i64,
    link_b: String,
    /// An upload of B's (already sent as `message_b`).
    upload_b: String,
    /// B's own user id, and a public username in the mock's world.
    user_b: i64,
    username: String,
    webhook_b: i64,
    delivery_b: i64,
    token_id: i64,
}

impl Fixture {
    fn concrete(&self, path: &str) -> String {
        let mut p = path
            .replace("{webhook}", &self.webhook_b.to_string())
            .replace("{delivery}", &self.delivery_b.to_string())
            .replace("{token}", &self.token_id.to_string())
            .replace("{account}", &self.b.to_string())
            .replace("{peer}", &self.group_b.to_string())
            .replace("{media}", &format!("{}_{}", self.group_b, self.message_b))
            .replace("{id}", &self.message_b.to_string())
            .replace("{link}", &self.link_b)
            .replace("{upload}", &self.upload_b)
            .replace("{user}", &self.user_b.to_string())
            .replace("{username}", &self.username)
            .replace("{hash}", "12345");
        if p.ends_with("/search") {
            p.push_str("?q=hello");
        }
        // Streams: ask for B's events explicitly (a limited token's default is its own).
        if p.starts_with("/v1/events") {
            p.push_str(&format!("?account={}", self.b));
        }
        p
    }

    fn body(&self, body: &Option<Value>) -> Option<Value> {
        body.as_ref().map(|b| {
            serde_json::from_str(&b.to_string().replace("\"{B}\"", &self.b.to_string())).unwrap()
        })
    }
}

fn operations_in_openapi() -> BTreeSet<(String, String)> {
    let api: Value = serde_json::to_value(Server::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

async fn call(
    client: &reqwest::Client,
    gw: &TestGateway,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = client.request(m, gw.at(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    if r.headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"))
    {
        return (status, String::new()); // a stream: the head is the answer
    }
    (status, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_its_scopes() {
    let documented = operations_in_openapi();
    let classified: BTreeSet<(String, String)> = table()
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, classified,
        "every route of the OpenAPI document must be classified in this test"
    );

    // Two connected accounts (A, B) in the runtime, against the mock: seeded into the store,
    // restored by a restart.
    let mock = TestMock::start().await;
    let user_a = mock.user("+15550001", "A").await;
    let user_b = mock.user("+15550002", "B").await;
    mock.user_with(NewUser::new("+15550003", "C").username("scope_c"))
        .await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let a = mock.seed_account(&gw.store, user_a, "+15550001").await;
    let b = mock.seed_account(&gw.store, user_b, "+15550002").await;
    let gw = gw.restart().await;
    for id in [a, b] {
        let h = gw.runtime.as_ref().unwrap().account(id).unwrap();
        assert_eq!(
            h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
                .await,
            AccountState::Connected
        );
    }
    let store = &gw.store;
    let admin = gw.admin();
    let ok = |r: reqwest::Response| async move {
        let s = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(s.is_success(), "{s} {v}");
        v
    };
    let group = ok(admin
        .post(gw.at(&format!("/v1/accounts/{b}/chats")))
        .json(&json!({"kind": "supergroup", "title": "B's group"}))
        .send()
        .await
        .unwrap())
    .await;
    let group_b = group["id"].as_i64().unwrap();
    // A file B uploaded and posted (so the media route has something to serve).
    let created = admin
        .post(gw.at(&format!("/v1/accounts/{b}/uploads")))
        .header("upload-length", "1000")
        .send()
        .await
        .unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let upload_b = ok(created).await["id"].as_str().unwrap().to_owned();
    let r = admin
        .patch(gw.at(&location))
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let message = ok(admin
        .post(gw.at(&format!("/v1/accounts/{b}/chats/{group_b}/messages")))
        .json(&json!({"text": "hello from B", "media": {"upload": upload_b}}))
        .send()
        .await
        .unwrap())
    .await;
    let link = ok(admin
        .post(gw.at(&format!("/v1/accounts/{b}/chats/{group_b}/invite-links")))
        .json(&json!({}))
        .send()
        .await
        .unwrap())
    .await;
    let link_b = link["link"]
        .as_str()
        .unwrap()
        .rsplit('+')
        .next()
        .unwrap()
        .to_owned();
    let mk = |scopes: Value| {
        let admin = admin.clone();
        let url = gw.at("/v1/tokens");
        async move {
            let v: Value = admin
                .post(url)
                .json(&json!({"name": "t", "scopes": scopes}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                v["id"].as_i64().unwrap(),
                client_with_token(v["token"].as_str().unwrap()),
            )
        }
    };
    let (token_id, _) = mk(json!(["read"])).await;
    let (_, limited_a) = mk(json!(["read", "write", format!("account:{}", a)])).await;
    let (_, reader) = mk(json!(["read"])).await;
    let (_, writer) = mk(json!(["read", "write"])).await;
    let unknown = client_with_token("tgt_thisisnotatoken");
    let anonymous = reqwest::Client::new();

    let secret_marker = "b-only-webhook-marker";
    let hook_b: Value = admin
        .post(gw.at("/v1/webhooks"))
        .json(&json!({"url": format!("http://127.0.0.1:9/{secret_marker}"), "account_id": b}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let webhook_b = hook_b["id"].as_i64().unwrap();
    let ids = store
        .append_events(&[NewEvent {
            account_id: Some(b),
            kind: "message.new".into(),
            payload: json!({"text": secret_marker}),
        }])
        .await
        .unwrap();
    store
        .enqueue_deliveries(&[(webhook_b, ids[0])], "scope-test", ids[0], 0)
        .await
        .unwrap();
    let delivery_b = store
        .webhook_deliveries(DeliveryQuery {
            webhook_id: webhook_b,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id;
    let fx = Fixture {
        b,
        group_b,
        message_b: message["id"].as_i64().unwrap(),
        link_b,
        upload_b,
        user_b: user_b.user_id,
        username: "scope_c".into(),
        webhook_b,
        delivery_b,
        token_id,
    };

    for (method, path, need, body) in table() {
        let url = fx.concrete(path);
        let body = fx.body(&body);
        let what = format!("{method} {path}");

        let (s, _) = call(&anonymous, &gw, method, &url, body.clone()).await;
        if need == Need::Public {
            assert_eq!(s, 200, "{what} is public");
            continue;
        }
        assert_eq!(s, 401, "{what} without a token");
        let (s, _) = call(&unknown, &gw, method, &url, body.clone()).await;
        assert_eq!(s, 401, "{what} with an unknown token");

        match need {
            Need::Public | Need::AnyToken => {
                let (s, _) = call(&limited_a, &gw, method, &url, body.clone()).await;
                assert_eq!(s, 200, "{what} with any token");
            }
            Need::UnlimitedWrite => {
                let (s, _) = call(&limited_a, &gw, method, &url, body.clone()).await;
                assert_eq!(s, 403, "{what} with a limited token");
                let (s, _) = call(&reader, &gw, method, &url, body.clone()).await;
                assert_eq!(s, 403, "{what} with a read-only token");
            }
            Need::Admin => {
                let (s, _) = call(&writer, &gw, method, &url, body.clone()).await;
                assert_eq!(s, 403, "{what} with a read/write token");
                let (s, _) = call(&limited_a, &gw, method, &url, body.clone()).await;
                assert_eq!(s, 403, "{what} with a limited token");
            }
            Need::Read | Need::Write => {
                let is_list =
                    !path.contains('{') && method == "get" && !path.starts_with("/v1/events");
                let (s, text) = call(&limited_a, &gw, method, &url, body.clone()).await;
                if is_list {
                    assert_eq!(s, 200, "{what}: lists answer with what the token may see");
                } else {
                    assert_eq!(
                        s, 404,
                        "{what} on account B with a token limited to A: {text}"
                    );
                }
                assert!(
                    !text.contains(secret_marker),
                    "{what} leaked B's data: {text}"
                );
                if need == Need::Write {
                    let (s, text) = call(&reader, &gw, method, &url, body.clone()).await;
                    assert_eq!(s, 403, "{what} with a read-only token: {text}");
                } else if path != "/v1/events/ws" {
                    let (s, text) = call(&reader, &gw, method, &url, body.clone()).await;
                    assert!(
                        (200..300).contains(&s),
                        "{what} allowed for a reader: {s} {text}"
                    );
                }
            }
        }
    }
}
