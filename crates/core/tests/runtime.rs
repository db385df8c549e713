//! The account runtime against the mock DC, through its public API only.

use std::time::Duration;

use secrecy::SecretString;
use telegate_core::*;
use telegate_mockdc_client::NewUser;
use telegate_testkit::{fast_config, TestMock, TestStore};

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} within 60 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_login_with_2fa_survives_a_restart_between_code_and_password() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    mock.user_with(NewUser::new("+15550100", "Alice").password("hunter2").dc(3))
        .await;
    let gw = Gateway::start(fast_config(), ts.open().await, mock.target())
        .await
        .unwrap();
    let (info, step) = within(
        "create",
        gw.create_account(
            CreateAccount::Phone {
                phone: "+1 555 0100".into(),
                label: None,
            },
            "test",
        ),
    )
    .await
    .unwrap();
    assert!(matches!(step, LoginStep::Code { .. }), "{step:?}");
    assert_eq!(info.phone.as_deref(), Some("+15550100"));
    let code = mock.control.login_code("+15550100").await.unwrap();
    let acct = gw.account(info.id).unwrap();
    let wrong = acct.login_code("00000").await.unwrap_err();
    assert_eq!(wrong.code, ErrorCode::PhoneCodeInvalid);
    let step = acct.login_code(&code).await.unwrap();
    assert!(matches!(step, LoginStep::Password { .. }), "{step:?}");
    // The gateway restarts between the code and the password.
    gw.shutdown().await;
    let gw = Gateway::start(fast_config(), ts.open().await, mock.target())
        .await
        .unwrap();
    let acct = gw.account(info.id).unwrap();
    assert!(matches!(
        acct.login_step().await.unwrap(),
        Some(LoginStep::Password { .. })
    ));
    let bad = acct
        .login_password(&SecretString::from("nope"))
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::PasswordInvalid);
    let done = acct
        .login_password(&SecretString::from("hunter2"))
        .await
        .unwrap();
    let LoginStep::Done { user } = done else {
        panic!("{done:?}")
    };
    assert_eq!(user.first_name.as_deref(), Some("Alice"));
    assert_eq!(
        acct.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    // PHONE_MIGRATE followed: the user lives on DC 3.
    assert_eq!(gw.account_info(info.id).await.unwrap().home_dc, 3);
    // A send works on the logged-in account.
    let me = acct
        .send_message(
            &PeerRef::Me,
            &SendMessage {
                text: "note".into(),
                ..Default::default()
            },
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert!(me.outgoing);
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_login_and_bad_tokens() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let bot = mock.control.create_bot("helper_bot").await.unwrap();
    let gw = Gateway::start(fast_config(), ts.open().await, mock.target())
        .await
        .unwrap();
    let bad = gw
        .create_account(
            CreateAccount::Bot {
                bot_token: "12:short".into(),
                label: None,
            },
            "t",
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::BotTokenInvalid);
    let wrong = format!("{}:{}", bot.user_id, "0".repeat(32));
    let bad = gw
        .create_account(
            CreateAccount::Bot {
                bot_token: wrong,
                label: None,
            },
            "t",
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::BotTokenInvalid);
    assert!(
        gw.accounts().await.unwrap().is_empty(),
        "failed logins leave nothing behind"
    );
    let (info, step) = gw
        .create_account(
            CreateAccount::Bot {
                bot_token: bot.token.clone(),
                label: None,
            },
            "t",
        )
        .await
        .unwrap();
    let LoginStep::Done { user } = step else {
        panic!("{step:?}")
    };
    assert!(user.bot);
    let acct = gw.account(info.id).unwrap();
    assert_eq!(
        acct.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    gw.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_completes_when_accepted() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let alice = mock.user("+15550300", "Alice").await;
    let gw = Gateway::start(fast_config(), ts.open().await, mock.target())
        .await
        .unwrap();
    // A QR account starts from a phone-less... use a phone account and choose QR instead.
    let (info, _) = gw
        .create_account(
            CreateAccount::Phone {
                phone: "+15550300".into(),
                label: None,
            },
            "t",
        )
        .await
        .unwrap();
    let acct = gw.account(info.id).unwrap();
    let step = acct.login_qr().await.unwrap();
    let LoginStep::Qr { url, .. } = step else {
        panic!("{step:?}")
    };
    let token = url.strip_prefix("tg://login?token=").unwrap();
    mock.control
        .accept_qr_login(alice.user_id, token)
        .await
        .unwrap();
    assert_eq!(
        acct.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    assert_eq!(
        gw.account_info(info.id).await.unwrap().user_id,
        Some(alice.user_id)
    );
    gw.shutdown().await;
    mock.shutdown().await;
}
