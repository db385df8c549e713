//! The client against a real mock DC started in-process on free ports.

use telegate_mockdc::server::{MockDc, MockDcConfig};
use telegate_mockdc_client::{Error, MockDcClient, NewUser};

#[tokio::test]
async fn every_route_round_trips() {
    let dc = MockDc::start(MockDcConfig::default()).await.unwrap();
    let c = MockDcClient::new(&dc.ready_info().control_url).unwrap();
    assert!(c.health().await.unwrap());
    let info = c.info().await.unwrap();
    assert_eq!(info.dcs.len(), dc.ready_info().dcs.len());
    let key = c.create_auth_key(info.dcs[0].id).await.unwrap();
    assert_ne!(&key[..], &[0u8; 256][..]);
    let err = c.create_auth_key(99).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 400, ref message } if message.contains("99")));

    let alice = c
        .create_user(&NewUser::new("+15550001", "Alice").username("alice"))
        .await
        .unwrap();
    let bob = c
        .create_user(&NewUser::new("+15550002", "Bob"))
        .await
        .unwrap();
    let id = c.send_message(bob.user_id, "@alice", "hi").await.unwrap();
    assert!(id > 0);
    let boxed = c.messages(alice.user_id, None, 10).await.unwrap();
    assert_eq!(boxed.messages[0].text, "hi");
    assert_eq!(boxed.messages[0].from, bob.user_id);
    assert!(!boxed.messages[0].out);
    assert_eq!(c.user(alice.user_id).await.unwrap()["phone"], "15550001");
    assert!(matches!(
        c.user(424242).await,
        Err(Error::Api { status: 404, .. })
    ));
    let bot = c.create_bot("helper_bot").await.unwrap();
    assert!(bot.token.starts_with(&bot.user_id.to_string()));
    assert!(!format!("{bot:?}").contains(&bot.token));
    c.add_fault(serde_json::json!({"latency_ms": 1}))
        .await
        .unwrap();
    c.clear_faults().await.unwrap();
    c.revoke_user(alice.user_id).await.unwrap();
    c.ban_user(bob.user_id).await.unwrap();
    assert!(matches!(
        c.login_code("+19999").await,
        Err(Error::Api { status: 404, .. })
    ));
    dc.shutdown().await;
}
