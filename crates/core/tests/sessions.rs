//! Imported sessions (issue 5 item 5): a session that Telethon really created against the mock DC
//! is imported and the gateway sends with it without a new login; a session Telegram kills with
//! AUTH_KEY_DUPLICATED ends `unauthorized` with that reason and is not retried.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{json, Value};
use telegate_core::*;
use telegate_testkit::{events_of, fast_config, TestMock, TestStore};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python with Telethon, or None (skip) unless interop is required.
fn python_or_skip(test: &str) -> Option<PathBuf> {
    match std::env::var_os("TELEGATE_PYTHON") {
        Some(p) => Some(p.into()),
        None if std::env::var_os("TELEGATE_REQUIRE_INTEROP").is_some() => {
            panic!("{test}: TELEGATE_PYTHON (a venv with Telethon) is required: run scripts/test")
        }
        None => {
            eprintln!("{test}: TELEGATE_PYTHON not set: skipped (scripts/test sets it)");
            None
        }
    }
}

/// Logs `phone` in with Telethon (a real DH handshake with the mock's RSA key) and returns its
/// StringSession.
async fn telethon_session(python: &PathBuf, mock: &TestMock, dc_id: i32, phone: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    std::fs::write(&ready, serde_json::to_string(mock.dc.ready_info()).unwrap()).unwrap();
    let scenario = json!({ "dc_id": dc_id, "phone": phone }).to_string();
    let out = tokio::process::Command::new(python)
        .arg(repo_root().join("interop/python/telethon_session_export.py"))
        .arg(&ready)
        .arg(&scenario)
        .current_dir(repo_root().join("interop/python"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), out)
        .await
        .expect("the Telethon script finishes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON line from telethon_session_export.py; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let result: Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        result["ok"],
        json!(true),
        "{result}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    result["session"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_by_telethon_is_imported_and_sends_without_a_new_login() {
    let Some(python) = python_or_skip("telethon session import") else {
        return;
    };
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    let carol = mock.user("+15550301", "Carol").await;
    let dave = mock
        .user_with(telegate_mockdc_client::NewUser::new("+15550302", "Dave").username("dave"))
        .await;
    let session = telethon_session(&python, &mock, carol.dc_id, "+15550301").await;

    let gw = Gateway::start(fast_config(), store.clone(), mock.target())
        .await
        .unwrap();
    // Malformed input is refused with a reason and creates nothing.
    let bad = gw
        .import_session(
            SessionFormat::Telethon,
            SecretString::from(format!("9{}", &session[1..])),
            None,
            "test",
        )
        .await
        .unwrap_err();
    assert!(bad.message.contains("version"), "{}", bad.message);
    assert!(gw.accounts().await.unwrap().is_empty());

    let info = gw
        .import_session(
            SessionFormat::Telethon,
            SecretString::from(session),
            Some("from telethon".into()),
            "test",
        )
        .await
        .unwrap();
    let h = gw.account(info.id).unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    let sent = h
        .send_message(
            &PeerRef::Username("dave".into()),
            &SendMessage {
                text: "hello from an imported session".into(),
                ..Default::default()
            },
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(sent.chat_id, dave.user_id);
    // Dave's box, as the mock sees it: the message came from Carol.
    let inbox = mock.control.messages(dave.user_id, None, 10).await.unwrap();
    let got = inbox
        .messages
        .iter()
        .find(|m| m.text == "hello from an imported session")
        .expect("Dave received the message");
    assert_eq!(got.from, carol.user_id);
    assert!(!got.out);
    // The account knows who it is.
    assert_eq!(
        gw.account_info(info.id).await.unwrap().user_id,
        Some(carol.user_id)
    );
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_key_duplicated_ends_unauthorized_with_the_reason_and_no_retries() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    let erin = mock.user("+15550311", "Erin").await;
    let account = mock.seed_account(&store, erin, "+15550311").await;
    let gw = Gateway::start(fast_config(), store.clone(), mock.target())
        .await
        .unwrap();
    let h = gw.account(account).unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    // What Telegram answers when the same key is used from two places at once.
    mock.control
        .add_fault(
            json!({"method": "messages.sendMessage", "error": "AUTH_KEY_DUPLICATED", "code": 406}),
        )
        .await
        .unwrap();
    let e = h
        .send_message(
            &PeerRef::Me,
            &SendMessage {
                text: "x".into(),
                ..Default::default()
            },
            &CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthKeyDuplicated, "{e:?}");
    assert_eq!(
        h.wait_for_state(AccountState::Unauthorized, Duration::from_secs(10))
            .await,
        AccountState::Unauthorized
    );
    let states = events_of(&store, account, "account.state").await;
    let last = &states.last().unwrap().payload;
    assert_eq!(last["state"], json!("unauthorized"));
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains("AUTH_KEY_DUPLICATED")),
        "{last}"
    );
    let row = store.account(account).await.unwrap().unwrap();
    assert!(
        row.revoked_at.is_some(),
        "the session is marked revoked, not deleted"
    );
    // No reconnect storm: several health intervals later nothing has moved.
    let before = h.health();
    tokio::time::sleep(fast_config().health_interval * 3).await;
    assert_eq!(h.state(), AccountState::Unauthorized);
    assert_eq!(h.health().reconnects, before.reconnects);
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hygiene_expires_logins_purges_revoked_keys_and_old_outcomes() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    mock.user("+15550321", "Fay").await;
    let gus = mock
        .user_with(telegate_mockdc_client::NewUser::new("+15550322", "Gus"))
        .await;
    let gus_account = mock.seed_account(&store, gus, "+15550322").await;
    let mut config = fast_config();
    config.login_ttl = Duration::from_millis(200);
    // The background job's first pass runs at start; later ones would race the assertions.
    config.hygiene.interval = Duration::from_secs(3600);
    config.hygiene.revoked_session_retention = Duration::ZERO;
    config.hygiene.idempotency_retention = Duration::ZERO;
    let gw = Gateway::start(config, store.clone(), mock.target())
        .await
        .unwrap();

    // A login left at the code step.
    let (fay, step) = gw
        .create_account(
            CreateAccount::Phone {
                phone: "+15550321".into(),
                label: None,
            },
            "test",
        )
        .await
        .unwrap();
    assert!(matches!(step, LoginStep::Code { .. }), "{step:?}");
    // A connected account with a recorded send outcome, then revoked by Telegram.
    let h = gw.account(gus_account).unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    h.send_message(
        &PeerRef::Me,
        &SendMessage {
            text: "kept once".into(),
            ..Default::default()
        },
        &CallOptions::key("hygiene-1"),
    )
    .await
    .unwrap();
    assert!(store
        .dc_sessions(gus_account)
        .await
        .unwrap()
        .iter()
        .any(|d| d.auth_key.is_some()));
    mock.control.revoke_user(gus.user_id).await.unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Unauthorized, Duration::from_secs(10))
            .await,
        AccountState::Unauthorized
    );

    // Let the login's time to live pass (wall-clock: logins expire by stored timestamps).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = gw.run_hygiene().await;
    assert_eq!(report.logins_expired, 1, "{report:?}");
    assert!(report.sessions_purged >= 1, "{report:?}");
    assert!(report.idempotency_purged >= 1, "{report:?}");

    let fay_handle = gw.account(fay.id).unwrap();
    assert_eq!(fay_handle.state(), AccountState::LoginRequired);
    let code = mock.control.login_code("+15550321").await.unwrap();
    let late = fay_handle.login_code(&code).await.unwrap_err();
    assert_eq!(late.code, ErrorCode::LoginStepInvalid, "{late:?}");
    let fay_states = events_of(&store, fay.id, "account.state").await;
    assert_eq!(
        fay_states.last().unwrap().payload["reason"],
        json!("login expired")
    );

    // Revoked: the account row stays, marked, and its keys are gone.
    let row = store.account(gus_account).await.unwrap().unwrap();
    assert!(row.revoked_at.is_some());
    assert!(store
        .dc_sessions(gus_account)
        .await
        .unwrap()
        .iter()
        .all(|d| d.auth_key.is_none()));
    // Nothing left to do: a second pass removes nothing.
    assert_eq!(gw.run_hygiene().await, HygieneReport::default());
    gw.shutdown().await;
    mock.shutdown().await;
}
