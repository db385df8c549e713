//! The durable update streams over real HTTP: SSE resumed with `Last-Event-ID` across a
//! gateway restart missing nothing, WebSocket with a resume cursor, filters, token scopes.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use telegate_store::{NewAccount, NewEvent};
use telegate_testkit::gateway::{client_with_token, TestGateway};

/// A minimal SSE reader: yields `(id, data)` per event, skipping comments.
struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Sse {
    async fn open(client: &reqwest::Client, url: &str, last_event_id: Option<i64>) -> Sse {
        let mut req = client.get(url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Sse {
            body: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> (i64, Value) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let (mut id, mut data) = (None, None);
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().parse::<i64>().unwrap());
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
                        }
                    }
                    if let (Some(id), Some(data)) = (id, data) {
                        return (id, data);
                    }
                    continue;
                }
                let chunk = self.body.next().await.expect("stream open").unwrap();
                self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("an event within 10 s")
    }
}

async fn append(gw: &TestGateway, account: i64, kind: &str, n: i64) -> Vec<i64> {
    let events: Vec<NewEvent> = (0..n)
        .map(|i| NewEvent {
            account_id: Some(account),
            kind: kind.into(),
            payload: json!({ "seq": i }),
        })
        .collect();
    let ids = gw.store.append_events(&events).await.unwrap();
    gw.bell.ring(*ids.last().unwrap());
    ids
}

#[tokio::test]
async fn sse_resumes_after_a_restart_missing_nothing() {
    let gw = TestGateway::start().await;
    let a = gw
        .store
        .create_account(NewAccount::user("+15550001"), "t")
        .await
        .unwrap();
    let admin = gw.admin();
    let mut sse = Sse::open(&admin, &gw.at("/v1/events"), None).await;
    let first = append(&gw, a.id, "message.new", 5).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (id, data) = sse.next().await;
        assert_eq!(data["id"], id);
        assert_eq!(data["type"], "message.new");
        assert_eq!(data["account_id"], a.id);
        assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
        seen.push(id);
    }
    drop(sse);

    // Events written while the client is away and the gateway restarts.
    let gw = gw.restart().await;
    let more = append(&gw, a.id, "message.new", 4).await;
    let admin = client_with_token(&gw.admin_token);
    let mut sse = Sse::open(&admin, &gw.at("/v1/events"), Some(*seen.last().unwrap())).await;
    for _ in 0..(first.len() - seen.len() + more.len()) {
        seen.push(sse.next().await.0);
    }
    let expected: Vec<i64> = first.iter().chain(&more).copied().collect();
    assert_eq!(seen, expected, "every event once, in order");
    // And live ones keep coming on the resumed stream.
    let live = append(&gw, a.id, "chat.updated", 1).await;
    assert_eq!(sse.next().await.0, live[0]);
}

#[tokio::test]
async fn streams_are_filtered_by_account_type_and_scope() {
    let gw = TestGateway::start().await;
    let a = gw
        .store
        .create_account(NewAccount::user("+15550001"), "t")
        .await
        .unwrap();
    let b = gw
        .store
        .create_account(NewAccount::user("+15550002"), "t")
        .await
        .unwrap();
    let admin = gw.admin();
    let made: Value = admin
        .post(gw.at("/v1/tokens"))
        .json(&json!({"name": "a", "scopes": ["read", format!("account:{}", a.id)]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_a = made["token"].as_str().unwrap().to_owned();
    let scoped = client_with_token(&token_a);

    // Asking for another account's events: as if it did not exist.
    let r = scoped
        .get(gw.at(&format!("/v1/events?account={}", b.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = scoped
        .get(gw.at("/v1/events?types=Bad!"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // From the beginning: B's events and the global one are never shown to A's token.
    gw.store
        .append_events(&[NewEvent {
            account_id: None,
            kind: "gateway.started".into(),
            payload: json!({}),
        }])
        .await
        .unwrap();
    append(&gw, b.id, "message.new", 3).await;
    let a_msgs = append(&gw, a.id, "message.new", 2).await;
    let a_chat = append(&gw, a.id, "chat.updated", 1).await;
    let mut sse = Sse::open(&scoped, &gw.at("/v1/events?after=0"), None).await;
    let got: Vec<i64> = vec![sse.next().await.0, sse.next().await.0, sse.next().await.0];
    assert_eq!(got, [a_msgs[0], a_msgs[1], a_chat[0]]);

    let mut only_chats = Sse::open(&admin, &gw.at("/v1/events?after=0&types=chat.*"), None).await;
    assert_eq!(only_chats.next().await.0, a_chat[0]);

    // The admin sees the global event too.
    let mut everything = Sse::open(&admin, &gw.at("/v1/events?after=0"), None).await;
    assert_eq!(everything.next().await.1["type"], "gateway.started");

    // WebSocket: same envelopes, resume cursor, token in the query (browsers cannot set
    // headers on a WebSocket).
    let ws_url = format!(
        "{}/v1/events/ws?after={}&access_token={}",
        gw.url.replace("http://", "ws://"),
        a_msgs[0],
        token_a
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let mut ws_ids = Vec::new();
    while ws_ids.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["account_id"], a.id);
            ws_ids.push(v["id"].as_i64().unwrap());
        }
    }
    assert_eq!(ws_ids, [a_msgs[1], a_chat[0]]);
    let live = append(&gw, a.id, "message.edited", 1).await;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_eq!(v["id"], live[0]);
            break;
        }
    }
    // The query token is required to be valid like any other.
    let bad = format!(
        "{}/v1/events/ws?access_token=tgt_nope",
        gw.url.replace("http://", "ws://")
    );
    assert!(tokio_tungstenite::connect_async(&bad).await.is_err());
}
