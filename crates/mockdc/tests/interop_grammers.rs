//! grammers-client 0.11 (the MTProto client the gateway itself is built on) against the mock DC,
//! over real sockets. grammers hard-codes Telegram's RSA keys, so it cannot complete DH against
//! the mock: its session is seeded with pre-shared keys registered on the mock, as the mock's
//! control API offers (`POST /v1/auth-keys`).

mod common;

use common::{client_for, within};
use grammers_mtsender::InvocationError;
use grammers_tl_types as tl;
use telegate_mockdc::server::{MockDc, MockDcConfig};

#[tokio::test]
async fn grammers_gets_config_and_ping_with_a_pre_shared_key() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let (client, pool) = client_for(&dc, 2);

    // The first call goes out as invokeWithLayer(initConnection(...)).
    let tl::enums::Config::Config(config) =
        within(client.invoke(&tl::functions::help::GetConfig {}))
            .await
            .expect("help.getConfig");
    assert_eq!(config.this_dc, 2);
    let mut ports: Vec<(i32, i32)> = config
        .dc_options
        .iter()
        .map(|tl::enums::DcOption::Option(o)| (o.id, o.port))
        .collect();
    ports.sort();
    let expected: Vec<(i32, i32)> = dc
        .ready_info()
        .dcs
        .iter()
        .map(|d| (d.id, d.port as i32))
        .collect();
    assert_eq!(ports, expected);

    let tl::enums::Pong::Pong(pong) = within(client.invoke(&tl::functions::Ping { ping_id: 4242 }))
        .await
        .expect("ping");
    assert_eq!(pong.ping_id, 4242);

    // Several requests in flight at once travel in containers and come back matched.
    let requests: Vec<_> = (0..20)
        .map(|i| tl::functions::Ping { ping_id: i })
        .collect();
    let pings = requests.iter().map(|request| client.invoke(request));
    let pongs = within(futures_util::future::join_all(pings)).await;
    for (i, pong) in pongs.into_iter().enumerate() {
        let tl::enums::Pong::Pong(pong) = pong.expect("ping");
        assert_eq!(pong.ping_id, i as i64);
    }

    // Another DC, on its own connection and key.
    let tl::enums::NearestDc::Dc(nearest) =
        within(client.invoke_in_dc(1, &tl::functions::help::GetNearestDc {}))
            .await
            .expect("help.getNearestDc on DC 1");
    assert_eq!(nearest.this_dc, 1);

    // A method the mock does not implement is a clear RPC error, and the connection lives on.
    match within(client.invoke(&tl::functions::help::GetTermsOfServiceUpdate {})).await {
        Err(InvocationError::Rpc(error)) => {
            assert_eq!(error.code, 400);
            assert_eq!(error.name, "METHOD_NOT_IMPLEMENTED_IN_MOCK");
        }
        other => panic!("expected METHOD_NOT_IMPLEMENTED_IN_MOCK, got {other:?}"),
    }
    within(client.invoke(&tl::functions::Ping { ping_id: 1 }))
        .await
        .expect("still connected");

    drop(client);
    pool.abort();
    dc.shutdown().await;
}
