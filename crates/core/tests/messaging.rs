//! Sends, idempotency, the update stream into the event log and mirror, flood waits, and
//! revocation — against the mock DC, through the runtime's public API.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use telegate_core::*;
use telegate_testkit::{events_of, fast_config, TestMock, TestStore};

struct Setup {
    mock: TestMock,
    _ts: TestStore,
    gw: Gateway,
    store: Arc<dyn telegate_store::Store>,
    alice: (i64, i64), // (account id, user id)
    bob_user: i64,
}

async fn setup() -> Setup {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    let a = mock.user("+15550201", "Alice").await;
    let b = mock
        .user_with(telegate_mockdc_client::NewUser::new("+15550202", "Bob").username("bobby"))
        .await;
    let alice_acct = mock.seed_account(&store, a, "+15550201").await;
    let gw = Gateway::start(fast_config(), store.clone(), mock.target())
        .await
        .unwrap();
    let h = gw.account(alice_acct).unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    Setup {
        mock,
        _ts: ts,
        gw,
        store,
        alice: (alice_acct, a.user_id),
        bob_user: b.user_id,
    }
}

fn text(t: &str) -> SendMessage {
    SendMessage {
        text: t.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_exactly_once_with_idempotency_keys() {
    let s = setup().await;
    let h = s.gw.account(s.alice.0).unwrap();
    let bob = PeerRef::Username("bobby".into());
    let first = h
        .send_message(&bob, &text("**hello** bob"), &CallOptions::key("k-1"))
        .await;
    // Markdown needs the mode; plain text keeps the asterisks.
    let first = first.unwrap();
    assert_eq!(first.text, "**hello** bob");
    let again = h
        .send_message(&bob, &text("**hello** bob"), &CallOptions::key("k-1"))
        .await
        .unwrap();
    assert_eq!(again, first, "a retry gets the recorded result");
    let reused = h
        .send_message(&bob, &text("other"), &CallOptions::key("k-1"))
        .await
        .unwrap_err();
    assert_eq!(reused.code, ErrorCode::IdempotencyKeyReused);
    let md = SendMessage {
        text: "**bold**".into(),
        parse_mode: ParseMode::Markdown,
        silent: true,
        ..Default::default()
    };
    let m2 = h
        .send_message(&bob, &md, &CallOptions::key("k-2"))
        .await
        .unwrap();
    assert_eq!(
        (m2.text.as_str(), m2.entities[0].kind.as_str()),
        ("bold", "bold")
    );
    // Concurrent duplicates: one post.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let h = h.clone();
        let bob = bob.clone();
        tasks.push(tokio::spawn(async move {
            h.send_message(&bob, &text("dup"), &CallOptions::key("k-3"))
                .await
                .unwrap()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().id);
    }
    assert_eq!(ids.len(), 1);
    // A restarted gateway still knows the key (the outcome was committed).
    s.gw.shutdown().await;
    let gw = Gateway::start(fast_config(), s.store.clone(), s.mock.target())
        .await
        .unwrap();
    let h = gw.account(s.alice.0).unwrap();
    h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
        .await;
    let after = h
        .send_message(&bob, &text("**hello** bob"), &CallOptions::key("k-1"))
        .await
        .unwrap();
    assert_eq!(after, first);
    // Bob's box holds each message once.
    let boxed = s
        .mock
        .control
        .messages(s.bob_user, None, 100)
        .await
        .unwrap();
    let texts: Vec<&str> = boxed.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.iter().filter(|t| **t == "**hello** bob").count(), 1);
    assert_eq!(texts.iter().filter(|t| **t == "dup").count(), 1);
    // Edits, history from both sources, read, delete.
    let edited = h
        .edit_message(
            &bob,
            first.id,
            &EditMessage {
                text: "hello (edited)".into(),
                ..Default::default()
            },
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(edited.text, "hello (edited)");
    let live = h.history(&bob, &HistoryQuery::default()).await.unwrap();
    assert!(live.iter().any(|m| m.text == "hello (edited)"));
    let bob_id = PeerRef::Id(s.bob_user);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mirror = h
            .history(
                &bob_id,
                &HistoryQuery {
                    source: HistorySource::Mirror,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        if mirror.iter().any(|m| m.text == "hello (edited)") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mirror got the edit: {mirror:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.read_history(&bob, 0).await.unwrap();
    h.delete_messages(&bob, &[m2.id], true).await.unwrap();
    let found = h
        .search(
            &bob,
            &SearchQuery {
                query: "dup".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let fwd = h
        .forward_messages(
            &bob,
            &[first.id],
            &PeerRef::Me,
            false,
            &CallOptions::key("f-1"),
        )
        .await
        .unwrap();
    assert_eq!(fwd.len(), 1);
    gw.shutdown().await;
    s.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_messages_reach_the_event_log_and_the_mirror_in_order() {
    let s = setup().await;
    let mut wake = s.gw.subscribe_events();
    for i in 0..30 {
        s.mock
            .control
            .send_message(s.bob_user, &s.alice.1.to_string(), &format!("m{i}"))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let evs = events_of(&s.store, s.alice.0, "message.new").await;
        if evs.len() >= 30 {
            let texts: Vec<String> = evs
                .iter()
                .map(|e| e.payload["message"]["text"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(texts, (0..30).map(|i| format!("m{i}")).collect::<Vec<_>>());
            assert_eq!(evs[0].payload["message"]["sender_id"], json!(s.bob_user));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "30 events, got {}: {:?}",
            evs.len(),
            evs.iter()
                .map(|e| e.payload["message"]["text"].clone())
                .collect::<Vec<_>>()
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), wake.changed()).await;
    }
    let h = s.gw.account(s.alice.0).unwrap();
    let page = h.chats(None, 10).await.unwrap();
    let chat = page
        .chats
        .iter()
        .find(|c| c.id == s.bob_user)
        .expect("bob's chat mirrored");
    assert_eq!(chat.unread_count, 30);
    assert_eq!(chat.title.as_deref(), Some("Bob"));
    let last = s
        .mock
        .control
        .messages(s.alice.1, None, 1)
        .await
        .unwrap()
        .messages[0]
        .clone();
    assert_eq!(chat.last_message_id, Some(last.id));
    assert_eq!(chat.last_message_at, Some(last.date * 1000));
    s.gw.shutdown().await;
    s.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_waits_are_slept_through_or_fail_fast() {
    let s = setup().await;
    let h = s.gw.account(s.alice.0).unwrap();
    let bob = PeerRef::Username("bobby".into());
    h.send_message(&bob, &text("warm-up"), &CallOptions::default())
        .await
        .unwrap();
    s.mock
        .control
        .add_fault(json!({"method": "messages.sendMessage", "error": "FLOOD_WAIT_3", "count": 1}))
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let m = h
        .send_message(&bob, &text("after a short wait"), &CallOptions::key("fw-3"))
        .await
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "slept {:?}",
        t0.elapsed()
    );
    assert_eq!(m.text, "after a short wait");
    s.mock
        .control
        .add_fault(json!({"method": "messages.sendMessage", "error": "FLOOD_WAIT_300", "count": 1}))
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let e = h
        .send_message(&bob, &text("too long"), &CallOptions::key("fw-300"))
        .await
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!((e.code, e.retry_after), (ErrorCode::FloodWait, Some(300)));
    assert_eq!(e.http_status(), 429);
    // Interactive callers opt out of sleeping.
    s.mock
        .control
        .add_fault(json!({"method": "messages.sendMessage", "error": "FLOOD_WAIT_3", "count": 1}))
        .await
        .unwrap();
    let opts = CallOptions {
        fail_fast: true,
        ..Default::default()
    };
    let e = h
        .send_message(&bob, &text("now or never"), &opts)
        .await
        .unwrap_err();
    assert_eq!((e.code, e.retry_after), (ErrorCode::FloodWait, Some(3)));
    s.gw.shutdown().await;
    s.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_go_unauthorized_within_one_health_interval() {
    let s = setup().await;
    let h = s.gw.account(s.alice.0).unwrap();
    let interval = fast_config().health_interval;
    let t0 = std::time::Instant::now();
    s.mock.control.revoke_user(s.alice.1).await.unwrap();
    let state = h
        .wait_for_state(
            AccountState::Unauthorized,
            interval * 2 + Duration::from_secs(3),
        )
        .await;
    assert_eq!(state, AccountState::Unauthorized);
    assert!(
        t0.elapsed() <= interval + fast_config().health_timeout,
        "{:?}",
        t0.elapsed()
    );
    let evs = events_of(&s.store, s.alice.0, "account.state").await;
    assert_eq!(evs.last().unwrap().payload["state"], json!("unauthorized"));
    assert!(s
        .store
        .account(s.alice.0)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    // No further attempts: several intervals later, nothing moved.
    let health = h.health();
    tokio::time::sleep(interval * 4).await;
    assert_eq!(h.state(), AccountState::Unauthorized);
    assert_eq!(h.health().last_ok_at, health.last_ok_at);
    assert_eq!(h.health().reconnects, health.reconnects);
    let e = h
        .send_message(&PeerRef::Me, &text("x"), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionRevoked);
    s.gw.shutdown().await;
    s.mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_accounts_are_banned() {
    let s = setup().await;
    let h = s.gw.account(s.alice.0).unwrap();
    s.mock.control.ban_user(s.alice.1).await.unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Banned, Duration::from_secs(5))
            .await,
        AccountState::Banned
    );
    s.gw.shutdown().await;
    s.mock.shutdown().await;
}
