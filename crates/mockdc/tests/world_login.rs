//! Logins as Telegram runs them, driven by grammers-client 0.11 over real sockets: code, code +
//! 2FA (SRP), bots, a PHONE_MIGRATE during login, and the errors of each step.

mod common;

use common::{client_for, http, within};
use grammers_client::SignInError;
use grammers_mtsender::InvocationError;
use grammers_tl_types as tl;
use telegate_mockdc::server::{MockDc, MockDcConfig};
use telegate_mockdc::world::NewUser;

async fn mock(dcs: u8) -> MockDc {
    MockDc::start(MockDcConfig {
        dcs,
        ..Default::default()
    })
    .await
    .unwrap()
}

fn add_user(dc: &MockDc, phone: &str, password: Option<&str>, dc_id: i32) -> i64 {
    let dcs = dc.ready_info().dcs.len() as i32;
    dc.cluster()
        .world()
        .create_user(
            NewUser {
                phone: phone.into(),
                first_name: "Ada".into(),
                username: Some(format!("ada{}", &phone[phone.len() - 4..])),
                password: password.map(String::from),
                dc_id: Some(dc_id),
                ..Default::default()
            },
            dcs,
        )
        .unwrap()
        .id
}

fn code_of(dc: &MockDc, phone: &str) -> String {
    dc.cluster()
        .world()
        .login_code(phone)
        .expect("a code was sent")
        .to_string()
}

fn rpc_name<T: std::fmt::Debug>(result: Result<T, InvocationError>) -> (i32, String) {
    match result {
        Err(InvocationError::Rpc(e)) => (
            e.code,
            format!(
                "{}{}",
                e.name,
                e.value.map(|v| format!("_{v}")).unwrap_or_default()
            ),
        ),
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn code_login_then_get_me() {
    let dc = mock(2).await;
    let user_id = add_user(&dc, "+15550001", None, 2);
    let (client, pool) = client_for(&dc, 2);

    // Before login, user methods answer AUTH_KEY_UNREGISTERED.
    assert_eq!(
        rpc_name(within(client.invoke(&tl::functions::updates::GetState {})).await),
        (401, "AUTH_KEY_UNREGISTERED".into())
    );
    assert!(!within(client.is_authorized()).await.unwrap());

    let token = within(client.request_login_code("+15550001", "hash"))
        .await
        .unwrap();
    match within(client.sign_in(&token, "000000")).await {
        Err(SignInError::InvalidCode) => {}
        other => panic!("expected PHONE_CODE_INVALID, got {other:?}"),
    }
    let code = code_of(&dc, "15550001");
    let me = within(client.sign_in(&token, &code))
        .await
        .expect("signed in");
    assert_eq!(me.id().bare_id(), Some(user_id));
    assert!(within(client.is_authorized()).await.unwrap());
    let me = within(client.get_me()).await.unwrap();
    assert_eq!(me.id().bare_id(), Some(user_id));
    assert_eq!(me.phone(), Some("15550001"));

    // Log out: the key is revoked.
    within(client.sign_out()).await.unwrap();
    assert_eq!(
        rpc_name(within(client.invoke(&tl::functions::updates::GetState {})).await),
        (401, "SESSION_REVOKED".into())
    );
    drop(client);
    pool.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn code_and_two_factor_password() {
    let dc = mock(2).await;
    let user_id = add_user(&dc, "+15550002", Some("correct horse"), 2);
    let (client, pool) = client_for(&dc, 2);
    let token = within(client.request_login_code("+15550002", "hash"))
        .await
        .unwrap();
    let code = code_of(&dc, "15550002");
    let password_token = match within(client.sign_in(&token, &code)).await {
        Err(SignInError::PasswordRequired(token)) => token,
        other => panic!("expected SESSION_PASSWORD_NEEDED, got {other:?}"),
    };
    // A wrong password: PASSWORD_HASH_INVALID, and grammers gets fresh SRP parameters to retry.
    let password_token = match within(client.check_password(password_token, "wrong")).await {
        Err(SignInError::InvalidPassword(token)) => token,
        other => panic!("expected PASSWORD_HASH_INVALID, got {other:?}"),
    };
    let me = within(client.check_password(password_token, "correct horse"))
        .await
        .expect("2FA accepted");
    assert_eq!(me.id().bare_id(), Some(user_id));
    drop(client);
    pool.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn login_migrates_from_dc2_to_the_users_home_dc4() {
    let dc = mock(5).await;
    let user_id = add_user(&dc, "+15550004", None, 4);
    let (client, pool) = client_for(&dc, 2);
    // sendCode on DC 2 answers PHONE_MIGRATE_4; grammers switches its home DC and asks DC 4.
    assert_eq!(
        rpc_name(
            within(client.invoke_in_dc(
                2,
                &tl::functions::auth::SendCode {
                    phone_number: "15550004".into(),
                    api_id: 1,
                    api_hash: "x".into(),
                    settings: tl::enums::CodeSettings::Settings(tl::types::CodeSettings {
                        allow_flashcall: false,
                        current_number: false,
                        allow_app_hash: false,
                        allow_missed_call: false,
                        allow_firebase: false,
                        unknown_number: false,
                        logout_tokens: None,
                        token: None,
                        app_sandbox: None,
                    }),
                }
            ))
            .await
        ),
        (303, "PHONE_MIGRATE_4".into())
    );
    let token = within(client.request_login_code("+15550004", "hash"))
        .await
        .unwrap();
    let me = within(client.sign_in(&token, &code_of(&dc, "15550004")))
        .await
        .unwrap();
    assert_eq!(me.id().bare_id(), Some(user_id));
    // The authorization lives on DC 4.
    let me = within(client.get_me()).await.unwrap();
    assert_eq!(me.id().bare_id(), Some(user_id));
    drop(client);
    pool.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn bot_login_and_token_errors() {
    let dc = mock(2).await;
    let dcs = 2;
    let (bot_id, token) = dc
        .cluster()
        .world()
        .create_bot("helper_bot", None, dcs)
        .unwrap();
    let (client, pool) = client_for(&dc, 2);
    match within(client.bot_sign_in("1:not-a-token", "hash")).await {
        Err(InvocationError::Rpc(e)) => {
            assert_eq!((e.code, e.name.as_str()), (400, "ACCESS_TOKEN_INVALID"))
        }
        other => panic!("expected ACCESS_TOKEN_INVALID, got {other:?}"),
    }
    let me = within(client.bot_sign_in(&token, "hash")).await.unwrap();
    assert_eq!(me.id().bare_id(), Some(bot_id));
    assert!(me.is_bot());
    drop(client);
    pool.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn revoked_banned_and_deleted_accounts() {
    let dc = mock(2).await;
    let user_id = add_user(&dc, "+15550005", None, 2);
    let (client, pool) = client_for(&dc, 2);
    let token = within(client.request_login_code("+15550005", "hash"))
        .await
        .unwrap();
    within(client.sign_in(&token, &code_of(&dc, "15550005")))
        .await
        .unwrap();

    dc.cluster()
        .world()
        .set_state(user_id, telegate_mockdc::world::AccountState::Banned);
    assert_eq!(
        rpc_name(within(client.get_me()).await),
        (401, "USER_DEACTIVATED_BAN".into())
    );
    dc.cluster()
        .world()
        .set_state(user_id, telegate_mockdc::world::AccountState::Deleted);
    assert_eq!(
        rpc_name(within(client.get_me()).await),
        (401, "USER_DEACTIVATED".into())
    );
    dc.cluster()
        .world()
        .set_state(user_id, telegate_mockdc::world::AccountState::Active);
    within(client.get_me()).await.unwrap();
    dc.cluster().world().revoke_user_keys(user_id, None);
    assert_eq!(
        rpc_name(within(client.get_me()).await),
        (401, "SESSION_REVOKED".into())
    );
    drop(client);
    pool.abort();
    dc.shutdown().await;
}

#[tokio::test]
async fn qr_login_accepted_by_another_session_and_by_the_control_api() {
    let dc = mock(2).await;
    let phone_session = common::connect(&dc, 2, None);
    let user_id =
        common::create_and_login(&dc, &phone_session.client, "+15550006", "qr_owner").await;

    let mut waiting = common::connect(&dc, 2, None);
    let export = tl::functions::auth::ExportLoginToken {
        api_id: 1,
        api_hash: "x".into(),
        except_ids: vec![],
    };
    let tl::enums::auth::LoginToken::Token(token) =
        within(waiting.client.invoke(&export)).await.unwrap()
    else {
        panic!("expected a fresh token")
    };
    // An unknown token is refused.
    assert_eq!(
        rpc_name(
            within(
                phone_session
                    .client
                    .invoke(&tl::functions::auth::AcceptLoginToken {
                        token: vec![1, 2, 3]
                    })
            )
            .await
        ),
        (400, "AUTH_TOKEN_INVALID".into())
    );
    within(
        phone_session
            .client
            .invoke(&tl::functions::auth::AcceptLoginToken {
                token: token.token.clone(),
            }),
    )
    .await
    .unwrap();
    // The waiting client is told with updateLoginToken...
    let mut raw_updates = waiting.updates.take().unwrap();
    let told = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(grammers_session::updates::UpdatesLike::Updates(
                tl::enums::Updates::UpdateShort(short),
            )) = raw_updates.recv().await
            {
                if matches!(short.update, tl::enums::Update::LoginToken) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(told.is_ok(), "updateLoginToken arrived");
    // ...and exporting again completes the login.
    match within(waiting.client.invoke(&export)).await.unwrap() {
        tl::enums::auth::LoginToken::Success(_) => {}
        other => panic!("expected loginTokenSuccess, got {other:?}"),
    }
    assert_eq!(
        within(waiting.client.get_me())
            .await
            .unwrap()
            .id()
            .bare_id(),
        Some(user_id)
    );

    // The control API accepts on the user's behalf (token as in tg://login?token=base64url).
    let third = common::connect(&dc, 2, None);
    let tl::enums::auth::LoginToken::Token(token) =
        within(third.client.invoke(&export)).await.unwrap()
    else {
        panic!("expected a token")
    };
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&token.token);
    let (status, body) = http(
        &dc.ready_info().control_url,
        "POST",
        "/v1/qr-login/accept",
        &format!(r#"{{"user_id":{user_id},"token":"{encoded}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(matches!(
        within(third.client.invoke(&export)).await.unwrap(),
        tl::enums::auth::LoginToken::Success(_)
    ));
    phone_session.disconnect();
    waiting.disconnect();
    third.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn export_and_import_authorization_across_dcs() {
    let dc = mock(3).await;
    let client = common::connect(&dc, 2, None);
    let user_id = common::create_and_login(&dc, &client.client, "+15550007", "multi_dc").await;
    let tl::enums::auth::ExportedAuthorization::Authorization(exported) = within(
        client
            .client
            .invoke(&tl::functions::auth::ExportAuthorization { dc_id: 3 }),
    )
    .await
    .unwrap();
    assert_eq!(exported.id, user_id);
    // DC 3 does not know this key's user until the import.
    assert_eq!(
        rpc_name(
            within(
                client
                    .client
                    .invoke_in_dc(3, &tl::functions::updates::GetState {})
            )
            .await
        ),
        (401, "AUTH_KEY_UNREGISTERED".into())
    );
    let wrong = tl::functions::auth::ImportAuthorization {
        id: user_id,
        bytes: vec![0; 32],
    };
    assert_eq!(
        rpc_name(within(client.client.invoke_in_dc(3, &wrong)).await),
        (400, "AUTH_BYTES_INVALID".into())
    );
    let import = tl::functions::auth::ImportAuthorization {
        id: exported.id,
        bytes: exported.bytes.clone(),
    };
    within(client.client.invoke_in_dc(3, &import))
        .await
        .unwrap();
    within(
        client
            .client
            .invoke_in_dc(3, &tl::functions::updates::GetState {}),
    )
    .await
    .unwrap();
    // Single use.
    assert_eq!(
        rpc_name(within(client.client.invoke_in_dc(3, &import)).await),
        (400, "AUTH_BYTES_INVALID".into())
    );
    assert_eq!(
        rpc_name(
            within(
                client
                    .client
                    .invoke(&tl::functions::auth::ExportAuthorization { dc_id: 9 })
            )
            .await
        ),
        (400, "DC_ID_INVALID".into())
    );
    client.disconnect();
    dc.shutdown().await;
}
