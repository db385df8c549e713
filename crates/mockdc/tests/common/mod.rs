//! Shared helpers for tests that drive grammers-client against the mock DC.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::SenderPool;
use grammers_session::storages::MemorySession;
use grammers_session::types::DcOption;
use grammers_session::SessionData;
use telegate_mockdc::server::MockDc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A grammers client whose session knows only the mock's DCs (no test may reach the internet),
/// each with a pre-shared key, and whose home is `home_dc`.
pub fn client_for(dc: &MockDc, home_dc: i32) -> (Client, tokio::task::JoinHandle<()>) {
    let mut data = SessionData {
        home_dc,
        ..SessionData::default()
    };
    data.dc_options.clear();
    for info in &dc.ready_info().dcs {
        let ipv4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, info.port);
        data.dc_options.insert(
            info.id,
            DcOption {
                id: info.id,
                ipv4,
                ipv6: SocketAddrV6::new(ipv4.ip().to_ipv6_mapped(), info.port, 0, 0),
                auth_key: Some(dc.register_auth_key(info.id)),
            },
        );
    }
    let session = Arc::new(MemorySession::from(data));
    let SenderPool { runner, handle, .. } = SenderPool::new(session, 1);
    (Client::new(handle), tokio::spawn(runner.run()))
}

pub async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("the mock DC answered within 20 s")
}

/// A grammers client with everything a test may need: its update channel and its session (to
/// reconnect later with the same auth keys and update state).
pub struct TestClient {
    pub client: Client,
    pub pool: tokio::task::JoinHandle<()>,
    pub updates: Option<tokio::sync::mpsc::Receiver<grammers_session::updates::UpdatesLike>>,
    pub session: Arc<MemorySession>,
}

impl TestClient {
    /// Drops the connection, keeping the session.
    pub fn disconnect(self) -> Arc<MemorySession> {
        self.client.disconnect();
        self.pool.abort();
        self.session
    }
}

/// A client for a fresh session (keys registered on every DC) or an existing one.
pub fn connect(dc: &MockDc, home_dc: i32, session: Option<Arc<MemorySession>>) -> TestClient {
    connect_with(
        dc,
        home_dc,
        session,
        grammers_mtsender::ConnectionParams::default(),
    )
}

/// Like [`connect`], with grammers' connection parameters (e.g. `NoRetries`, so a test sees
/// FLOOD_WAIT errors instead of grammers sleeping through them).
pub fn connect_with(
    dc: &MockDc,
    home_dc: i32,
    session: Option<Arc<MemorySession>>,
    params: grammers_mtsender::ConnectionParams,
) -> TestClient {
    let session = session.unwrap_or_else(|| {
        let mut data = SessionData {
            home_dc,
            ..SessionData::default()
        };
        data.dc_options.clear();
        for info in &dc.ready_info().dcs {
            let ipv4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, info.port);
            data.dc_options.insert(
                info.id,
                DcOption {
                    id: info.id,
                    ipv4,
                    ipv6: SocketAddrV6::new(ipv4.ip().to_ipv6_mapped(), info.port, 0, 0),
                    auth_key: Some(dc.register_auth_key(info.id)),
                },
            );
        }
        Arc::new(MemorySession::from(data))
    });
    let SenderPool {
        runner,
        handle,
        updates,
    } = SenderPool::with_configuration(session.clone(), 1, params);
    TestClient {
        client: Client::new(handle),
        pool: tokio::spawn(runner.run()),
        updates: Some(updates),
        session,
    }
}

/// Creates a user on the mock and logs `client` in as it (code login).
pub async fn create_and_login(dc: &MockDc, client: &Client, phone: &str, username: &str) -> i64 {
    let dcs = dc.ready_info().dcs.len() as i32;
    let user_id = dc
        .cluster()
        .world()
        .create_user(
            telegate_mockdc::world::NewUser {
                phone: phone.into(),
                first_name: username.into(),
                username: Some(username.into()),
                ..Default::default()
            },
            dcs,
        )
        .unwrap()
        .id;
    let token = within(client.request_login_code(phone, "hash"))
        .await
        .unwrap();
    let code = dc.cluster().world().login_code(phone).unwrap().to_string();
    within(client.sign_in(&token, &code)).await.unwrap();
    user_id
}

/// A minimal HTTP/1.1 exchange with the mock's control API (plain JSON over HTTP), so the tests
/// need no HTTP client crate: (status, JSON body or null).
pub async fn http(
    control_url: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let addr = control_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let json = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

/// grammers connection parameters that surface errors (FLOOD_WAIT included) instead of retrying.
pub fn no_retries() -> grammers_mtsender::ConnectionParams {
    grammers_mtsender::ConnectionParams {
        retry_policy: Box::new(grammers_mtsender::NoRetries),
        ..Default::default()
    }
}

/// The RPC error of a failed call: (code, name, value) as grammers splits them
/// (`FLOOD_WAIT_7` is name `FLOOD_WAIT`, value 7).
pub fn rpc_error<T: std::fmt::Debug>(
    result: Result<T, grammers_mtsender::InvocationError>,
) -> (i32, String, Option<u32>) {
    match result {
        Err(grammers_mtsender::InvocationError::Rpc(e)) => (e.code, e.name, e.value),
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

/// The RPC error name of a failed call (panics on success or another error).
pub fn error_name<T: std::fmt::Debug>(
    result: Result<T, grammers_mtsender::InvocationError>,
) -> String {
    rpc_error(result).1
}

/// A reference to `user` with the access hash `viewer` was given.
pub fn user_ref(dc: &MockDc, viewer: i64, user: i64) -> grammers_session::types::PeerRef {
    grammers_session::types::PeerRef {
        id: grammers_session::types::PeerId::user(user).expect("a user id"),
        auth: grammers_session::types::PeerAuth::from_hash(
            dc.cluster().world().access_hash(viewer, user),
        ),
    }
}

/// A reference to a channel with the access hash `viewer` was given.
pub fn channel_ref(dc: &MockDc, viewer: i64, channel: i64) -> grammers_session::types::PeerRef {
    grammers_session::types::PeerRef {
        id: grammers_session::types::PeerId::channel(channel).expect("a channel id"),
        auth: grammers_session::types::PeerAuth::from_hash(
            dc.cluster().world().channel_access_hash(viewer, channel),
        ),
    }
}

/// A reference to a basic group (no access hash needed).
pub fn chat_ref(chat: i64) -> grammers_session::types::PeerRef {
    grammers_session::types::PeerId::chat(chat)
        .expect("a chat id")
        .to_ambient_ref()
}

/// Creates a user on the mock (no login).
pub fn create_user(dc: &MockDc, phone: &str, username: &str) -> i64 {
    let dcs = dc.ready_info().dcs.len() as i32;
    dc.cluster()
        .world()
        .create_user(
            telegate_mockdc::world::NewUser {
                phone: phone.into(),
                first_name: username.into(),
                username: Some(username.into()),
                ..Default::default()
            },
            dcs,
        )
        .unwrap()
        .id
}
