//! The control API driving the world over HTTP: users, bots, messages, faults.

mod common;

use std::time::{Duration, Instant};

use common::{connect, connect_with, create_and_login, http, within};
use grammers_mtsender::{ConnectionParams, InvocationError, NoRetries};
use grammers_tl_types as tl;
use telegate_mockdc::server::{MockDc, MockDcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn no_retries() -> ConnectionParams {
    ConnectionParams {
        retry_policy: Box::new(NoRetries),
        ..Default::default()
    }
}

fn rpc_error<T: std::fmt::Debug>(result: Result<T, InvocationError>) -> (i32, String, Option<u32>) {
    match result {
        Err(InvocationError::Rpc(e)) => (e.code, e.name, e.value),
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn users_bots_login_codes_and_messages_over_http() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = dc.ready_info().control_url.clone();

    let (status, alice) = http(&url, "POST", "/v1/users", r#"{"phone":"+1 555 7001","first_name":"Alice","username":"alice_http","password":"pw","dc_id":3}"#).await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["dc_id"], 3);
    let alice_id = alice["user_id"].as_i64().unwrap();
    let (status, body) = http(
        &url,
        "POST",
        "/v1/users",
        r#"{"phone":"15557001","first_name":"Dup"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{body}"
    );
    let (status, body) = http(
        &url,
        "POST",
        "/v1/users",
        r#"{"phone":"1","first_name":"X","unknown":1}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let (status, bot) = http(&url, "POST", "/v1/bots", r#"{"username":"notify_bot"}"#).await;
    assert_eq!(status, 200, "{bot}");
    assert!(bot["token"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}:", bot["user_id"])));

    let (status, user) = http(&url, "GET", &format!("/v1/users/{alice_id}"), "").await;
    assert_eq!(status, 200);
    assert_eq!(user["has_password"], true);
    assert!(user.get("password").is_none());
    assert_eq!(http(&url, "GET", "/v1/users/1", "").await.0, 404);

    // A login code, readable with or without '+', URL-encoded.
    let bob = connect(&dc, 2, None);
    let bob_id = create_and_login(&dc, &bob.client, "+15557002", "bob_http").await;
    let token = within(bob.client.request_login_code("+15557002", "x"))
        .await
        .unwrap();
    let _ = token;
    let (status, code) = http(&url, "GET", "/v1/login-codes/%2B15557002", "").await;
    assert_eq!(status, 200);
    assert_eq!(code["code"].as_str().unwrap().len(), 5);
    assert_eq!(
        http(&url, "GET", "/v1/login-codes/15557002", "").await.1,
        code
    );
    assert_eq!(
        http(&url, "GET", "/v1/login-codes/19990000", "").await.0,
        404
    );

    // A message posted through the API lands in both boxes and is pushed to the recipient.
    let (status, sent) = http(
        &url,
        "POST",
        "/v1/messages",
        &format!(r#"{{"from_user_id":{alice_id},"peer":"@bob_http","text":"from the API"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["message_id"], 1);
    let (_, listed) = http(
        &url,
        "GET",
        &format!("/v1/users/{bob_id}/messages?peer={alice_id}&limit=5"),
        "",
    )
    .await;
    assert_eq!(listed["messages"][0]["text"], "from the API");
    assert_eq!(listed["messages"][0]["out"], false);
    let (status, body) = http(
        &url,
        "POST",
        "/v1/messages",
        &format!(r#"{{"from_user_id":{alice_id},"peer":"@nobody","text":"x"}}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("@nobody"));

    // Revoke, ban, delete.
    let (status, revoked) = http(&url, "POST", &format!("/v1/users/{bob_id}/revoke"), "").await;
    assert_eq!((status, revoked["revoked"].as_i64()), (200, Some(1)));
    assert_eq!(
        rpc_error(within(bob.client.get_me()).await).1,
        "SESSION_REVOKED"
    );
    assert_eq!(
        http(&url, "POST", &format!("/v1/users/{alice_id}/ban"), "")
            .await
            .1["state"],
        "banned"
    );
    assert_eq!(
        http(&url, "DELETE", &format!("/v1/users/{alice_id}"), "")
            .await
            .1["state"],
        "deleted"
    );
    bob.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn injected_errors_flood_limits_latency_and_drops() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = dc.ready_info().control_url.clone();
    let client = connect_with(&dc, 2, None, no_retries());
    create_and_login(&dc, &client.client, "+15558001", "faulty").await;
    let ping_state = || client.client.invoke(&tl::functions::updates::GetState {});

    // The next 2 calls of updates.getState fail with FLOOD_WAIT_7 (420), then it works again.
    let (status, body) = http(
        &url,
        "POST",
        "/v1/faults",
        r#"{"method":"updates.getState","error":"FLOOD_WAIT_7","count":2}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        http(&url, "GET", "/v1/faults", "").await.1["faults"][0]["count"],
        2
    );
    for _ in 0..2 {
        assert_eq!(
            rpc_error(within(ping_state()).await),
            (420, "FLOOD_WAIT".into(), Some(7))
        );
    }
    within(ping_state()).await.unwrap();

    // A Telegram-like rule: 2 calls per 30 s; the third waits for the oldest to leave.
    http(
        &url,
        "POST",
        "/v1/faults",
        r#"{"flood_limit":{"method":"updates.getState","per_seconds":30,"max_calls":2}}"#,
    )
    .await;
    within(ping_state()).await.unwrap();
    within(ping_state()).await.unwrap();
    let (code, name, seconds) = rpc_error(within(ping_state()).await);
    assert_eq!((code, name.as_str()), (420, "FLOOD_WAIT"));
    assert!((29..=30).contains(&seconds.unwrap()), "{seconds:?}");

    // Bad specs are named.
    let (status, body) = http(&url, "POST", "/v1/faults", r#"{"latency_ms":"slow"}"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("invalid fault"),
        "{body}"
    );

    // Latency is added to every response.
    assert_eq!(http(&url, "DELETE", "/v1/faults", "").await.0, 200);
    http(&url, "POST", "/v1/faults", r#"{"latency_ms":300}"#).await;
    let started = Instant::now();
    within(ping_state()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    http(&url, "DELETE", "/v1/faults", "").await;

    // Dropped connections: an idle raw connection is closed by the server...
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", dc.ready_info().dcs[1].port))
        .await
        .unwrap();
    raw.write_all(&[0xee; 4]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    http(&url, "POST", "/v1/faults", r#"{"drop_connections":"now"}"#).await;
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .expect("closed within 5 s");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // ...and grammers reconnects (its I/O retry is disabled here, so the call in flight may
    // fail with an I/O error; the next one goes through on a new connection).
    let mut recovered = false;
    for _ in 0..5 {
        if within(ping_state()).await.is_ok() {
            recovered = true;
            break;
        }
    }
    assert!(recovered);
    client.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn updates_too_long_is_pushed_to_the_users_online_sessions() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = dc.ready_info().control_url.clone();
    let mut client = connect(&dc, 2, None);
    let user_id = create_and_login(&dc, &client.client, "+15559001", "too_long").await;
    // Any call makes this session the key's online session.
    within(client.client.invoke(&tl::functions::updates::GetState {}))
        .await
        .unwrap();
    let (status, body) = http(
        &url,
        "POST",
        "/v1/faults",
        &format!(r#"{{"updates_too_long_for_user":{user_id}}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["delivered"], 1);
    let mut raw = client.updates.take().unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(grammers_session::updates::UpdatesLike::Updates(
                tl::enums::Updates::TooLong,
            )) = raw.recv().await
            {
                return;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "updatesTooLong arrived");
    assert_eq!(
        http(
            &url,
            "POST",
            "/v1/faults",
            r#"{"updates_too_long_for_user":1}"#
        )
        .await
        .0,
        404
    );
    client.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn an_auth_key_created_for_a_user_is_already_logged_in() {
    use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
    use std::sync::Arc;

    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = dc.ready_info().control_url.clone();
    let (status, carol) = http(
        &url,
        "POST",
        "/v1/users",
        r#"{"phone":"+1 555 7301","first_name":"Carol","username":"carol_key"}"#,
    )
    .await;
    assert_eq!(status, 200, "{carol}");
    let carol_id = carol["user_id"].as_i64().unwrap();

    let (status, body) = http(
        &url,
        "POST",
        "/v1/auth-keys",
        &format!(r#"{{"dc_id":2,"user_id":{carol_id}}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let key: [u8; 256] = hex::decode(body["auth_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();

    // A grammers session holding only that key is Carol's, without any login.
    let mut data = grammers_session::SessionData {
        home_dc: 2,
        ..Default::default()
    };
    data.dc_options.clear();
    let port = dc.ready_info().dcs[1].port;
    let ipv4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    data.dc_options.insert(
        2,
        grammers_session::types::DcOption {
            id: 2,
            ipv4,
            ipv6: SocketAddrV6::new(ipv4.ip().to_ipv6_mapped(), port, 0, 0),
            auth_key: Some(key),
        },
    );
    let session = Arc::new(grammers_session::storages::MemorySession::from(data));
    let grammers_mtsender::SenderPool { runner, handle, .. } =
        grammers_mtsender::SenderPool::new(session, 1);
    let client = grammers_client::Client::new(handle);
    let pool = tokio::spawn(runner.run());
    let me = within(client.get_me()).await.expect("get_me with the key");
    assert_eq!(me.id().bare_id(), Some(carol_id));

    // Unknown users and DCs are named.
    let (status, body) = http(
        &url,
        "POST",
        "/v1/auth-keys",
        r#"{"dc_id":2,"user_id":999999}"#,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("999999"), "{body}");
    let (status, body) = http(
        &url,
        "POST",
        "/v1/auth-keys",
        &format!(r#"{{"dc_id":9,"user_id":{carol_id}}}"#),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    drop(client);
    pool.abort();
    dc.shutdown().await;
}
