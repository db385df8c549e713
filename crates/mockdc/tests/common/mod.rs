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

