//! Acceptance: many accounts restored at start while the mock drops every connection
//! periodically, with sends in flight carrying idempotency keys: each send is delivered exactly
//! once and every account ends connected.
//!
//! The default run is bounded (200 accounts, drops every second for a few seconds, 2,000
//! sends). `TELEGATE_SOAK=1` runs the full version: drops every 5 s for a minute while
//! 10,000 sends are in flight.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use telegate_core::*;
use telegate_testkit::{fast_config, TestMock, TestStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_accounts_deliver_every_send_once_through_connection_drops() {
    let soak = std::env::var_os("TELEGATE_SOAK").is_some();
    let (accounts, per_account, drop_every, drop_for) = if soak {
        (200usize, 50usize, 5u64, Duration::from_secs(60))
    } else {
        (200, 10, 1, Duration::from_secs(4))
    };
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    let mut users = Vec::new();
    for i in 0..accounts {
        let phone = format!("+1666{i:06}");
        let u = mock.user(&phone, &format!("U{i}")).await;
        let id = mock.seed_account(&store, u, &phone).await;
        users.push((id, u.user_id));
    }
    let t0 = std::time::Instant::now();
    let gw = Gateway::start(fast_config(), store.clone(), mock.target())
        .await
        .unwrap();
    let states = gw.wait_settled(Duration::from_secs(60)).await;
    assert_eq!(states.get("connected"), Some(&accounts), "{states:?}");
    eprintln!("{accounts} accounts connected in {:?}", t0.elapsed());

    mock.control
        .add_fault(json!({ "drop_connections_every_secs": drop_every }))
        .await
        .unwrap();
    let stop_at = tokio::time::Instant::now() + drop_for;
    let mut tasks = Vec::new();
    for (acct, _) in &users {
        let h = gw.account(*acct).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for n in 0..per_account {
                let key = format!("a{}-m{n}", h.id());
                let req = SendMessage {
                    text: key.clone(),
                    ..Default::default()
                };
                // A client that retries on failure with the same key.
                let mut tries = 0;
                loop {
                    match h
                        .send_message(&PeerRef::Me, &req, &CallOptions::key(key.clone()))
                        .await
                    {
                        Ok(m) => {
                            sent.push((key.clone(), m.id));
                            break;
                        }
                        Err(e) => {
                            tries += 1;
                            assert!(tries < 50, "send {key} kept failing: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                // Spread the sends over the drop period.
                if tokio::time::Instant::now() < stop_at {
                    let left = stop_at - tokio::time::Instant::now();
                    tokio::time::sleep(left / (per_account - n) as u32 / 2).await;
                }
            }
            sent
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap());
    }
    tokio::time::sleep_until(stop_at).await;
    mock.control.clear_faults().await.unwrap();
    // Exactly once, checked in the mock's world.
    for ((_, user_id), sent) in users.iter().zip(&all) {
        let boxed = mock.control.messages(*user_id, None, 1000).await.unwrap();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for m in &boxed.messages {
            *counts.entry(m.text.as_str()).or_default() += 1;
        }
        for (key, id) in sent {
            assert_eq!(counts.get(key.as_str()), Some(&1), "{key} delivered once");
            assert!(boxed.messages.iter().any(|m| m.id == *id && m.text == *key));
        }
    }
    let states = gw.wait_settled(Duration::from_secs(60)).await;
    assert_eq!(
        states.get("connected"),
        Some(&accounts),
        "every account ends connected: {states:?}"
    );
    gw.shutdown().await;
    mock.shutdown().await;
}
