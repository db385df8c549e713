//! The mock DC in-process, and seeding.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use grammers_session::types::UpdatesState;
use telegate_mockdc::server::{MockDc, MockDcConfig};
use telegate_mockdc_client::{CreatedUser, MockDcClient, NewUser};
use telegate_store::{
    AccountState, AuthKey, CachedPeer, DcSession, NewAccount, PeerKind, Store, UpdateBatch,
};

/// A running mock DC (5 DCs on free loopback ports) and a client of its control API.
pub struct TestMock {
    pub dc: MockDc,
    pub control: MockDcClient,
}

impl TestMock {
    pub async fn start() -> Self {
        let dc = MockDc::start(MockDcConfig::default())
            .await
            .expect("mock DC starts");
        let control = MockDcClient::new(&dc.ready_info().control_url).expect("control URL");
        Self { dc, control }
    }

    pub fn control_url(&self) -> String {
        self.dc.ready_info().control_url.clone()
    }

    /// The runtime's target for this mock (the same code path as `TELEGATE_MOCK_DC`).
    pub fn target(&self) -> telegate_core::TelegramTarget {
        telegate_core::TelegramTarget::mock(&self.control_url()).expect("mock target")
    }

    /// A user in the mock's world.
    pub async fn user(&self, phone: &str, first_name: &str) -> CreatedUser {
        self.control
            .create_user(&NewUser::new(phone, first_name))
            .await
            .expect("user created")
    }

    pub async fn user_with(&self, user: NewUser) -> CreatedUser {
        self.control.create_user(&user).await.expect("user created")
    }

    /// Stores an account already logged in as `user` (keys registered in the mock on every DC,
    /// the home DC's authorized), as if it had completed a login earlier. Returns its id.
    pub async fn seed_account(
        &self,
        store: &Arc<dyn Store>,
        user: CreatedUser,
        phone: &str,
    ) -> i64 {
        let mut new = NewAccount::user(phone);
        new.state = AccountState::Connected;
        new.home_dc = user.dc_id;
        let account = store.create_account(new, "testkit").await.expect("account");
        for info in &self.dc.ready_info().dcs {
            let key = if info.id == user.dc_id {
                self.dc.register_authorized_key(info.id, user.user_id)
            } else {
                self.dc.register_auth_key(info.id)
            };
            store
                .put_dc_session(
                    account.id,
                    &DcSession {
                        dc_id: info.id,
                        ipv4: Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, info.port)),
                        ipv6: None,
                        auth_key: Some(AuthKey::new(&key)),
                        revoked_at: None,
                    },
                )
                .await
                .expect("dc session");
        }
        store
            .set_account_user(account.id, user.user_id, Some(phone))
            .await
            .expect("user");
        store
            .upsert_peers(
                account.id,
                &[CachedPeer {
                    peer_id: user.user_id,
                    kind: PeerKind::User,
                    access_hash: None,
                    is_bot: Some(false),
                    is_self: true,
                    channel_kind: None,
                    username: None,
                    phone: None,
                    display_name: None,
                }],
            )
            .await
            .expect("self peer");
        // Start the update stream at the box's current pts (as a fresh login would). pts 0 means
        // "no state" to grammers (Telegram's boxes never are at 0): give a new user's box one
        // saved message first.
        let box_pts = self
            .control
            .messages(user.user_id, None, 1)
            .await
            .map(|m| m.pts)
            .unwrap_or(0);
        if box_pts == 0 {
            self.control
                .send_message(user.user_id, &user.user_id.to_string(), "welcome")
                .await
                .expect("saved message");
        }
        let pts = self
            .control
            .messages(user.user_id, None, 1)
            .await
            .map(|m| m.pts)
            .unwrap_or(0);
        store
            .apply_update_batch(UpdateBatch {
                account_id: account.id,
                state: vec![grammers_session::types::UpdateState::All(UpdatesState {
                    pts,
                    qts: 0,
                    date: 1,
                    seq: 0,
                    channels: Vec::new(),
                })],
                ..Default::default()
            })
            .await
            .expect("update state");
        account.id
    }

    pub async fn shutdown(self) {
        self.dc.shutdown().await;
    }
}
