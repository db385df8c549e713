//! "Which Telegram" (issue 6 item 0): production Telegram, or a mock DC standing in for it.
//!
//! The one difference between the two is *where DC addresses and new auth keys come from*:
//! - production: Telegram's static DC table (grammers' defaults) and grammers' own DH exchange
//!   when a DC has no key yet;
//! - a mock (`TELEGATE_MOCK_DC` = its control URL): the DC table from the mock's `/v1/info`,
//!   and every new key provisioned through `POST /v1/auth-keys` **for every DC before grammers
//!   connects** — grammers hard-codes Telegram's RSA keys, so its DH can never succeed against
//!   the mock, and its sender pool would try it on the first call to a DC without a key.
//!
//! Everything else in the runtime runs the same code against both. The HTTP talking to the mock
//! lives in `telegate-mockdc-client`; here it is only a [`DcProvisioner`].

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::error::{CoreError, CoreResult, ErrorCode};

/// Environment variable naming the mock DC's control URL.
pub const MOCK_DC_ENV: &str = "TELEGATE_MOCK_DC";
/// The seed's variable names for the Telegram application credentials.
pub const API_ID_ENV: &str = "TELEGRAM_API_ID";
pub const API_HASH_ENV: &str = "TELEGRAM_API_HASH";

/// One DC's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcAddress {
    pub id: i32,
    pub ipv4: SocketAddrV4,
}

/// Supplies DC addresses and pre-shared auth keys for a Telegram stand-in.
#[async_trait]
pub trait DcProvisioner: Send + Sync + fmt::Debug {
    /// Every DC the target serves.
    async fn dc_table(&self) -> CoreResult<Vec<DcAddress>>;
    /// A fresh auth key registered on `dc_id`.
    async fn new_auth_key(&self, dc_id: i32) -> CoreResult<Zeroizing<[u8; 256]>>;
}

/// The Telegram the runtime talks to, plus the application credentials.
#[derive(Clone)]
pub struct TelegramTarget {
    pub api_id: i32,
    pub api_hash: String,
    /// `None`: real Telegram (static DC table, grammers' DH).
    pub provisioner: Option<Arc<dyn DcProvisioner>>,
}

impl fmt::Debug for TelegramTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramTarget")
            .field("api_id", &self.api_id)
            .field("api_hash", &"[REDACTED]")
            .field("provisioner", &self.provisioner)
            .finish()
    }
}

impl TelegramTarget {
    /// Real Telegram with the application's credentials (my.telegram.org).
    pub fn production(api_id: i32, api_hash: impl Into<String>) -> Self {
        Self {
            api_id,
            api_hash: api_hash.into(),
            provisioner: None,
        }
    }

    /// A mock DC reached through its control API (`telegate mock-dc` prints the URL).
    pub fn mock(control_url: &str) -> CoreResult<Self> {
        let client = telegate_mockdc_client::MockDcClient::new(control_url)
            .map_err(|e| CoreError::invalid(format!("{MOCK_DC_ENV}: {e}")))?;
        Ok(Self::with_provisioner(Arc::new(MockProvisioner(client))))
    }

    /// Any other stand-in (tests inject their own).
    pub fn with_provisioner(provisioner: Arc<dyn DcProvisioner>) -> Self {
        Self {
            // The mock accepts any application; these are not secrets.
            api_id: 1,
            api_hash: "telegate-mock".into(),
            provisioner: Some(provisioner),
        }
    }

    /// From the environment: `TELEGATE_MOCK_DC` if set, else `TELEGRAM_API_ID` and
    /// `TELEGRAM_API_HASH` (both required, with a message naming what is missing).
    pub fn from_env() -> CoreResult<Self> {
        if let Ok(url) = std::env::var(MOCK_DC_ENV) {
            if !url.trim().is_empty() {
                return Self::mock(url.trim());
            }
        }
        let id = std::env::var(API_ID_ENV).map_err(|_| {
            CoreError::invalid(format!(
                "{API_ID_ENV} and {API_HASH_ENV} are required to reach Telegram \
                 (or set {MOCK_DC_ENV} to a mock DC's control URL)"
            ))
        })?;
        let api_id: i32 = id
            .trim()
            .parse()
            .map_err(|_| CoreError::invalid(format!("{API_ID_ENV} must be a number")))?;
        let hash = std::env::var(API_HASH_ENV).map_err(|_| {
            CoreError::invalid(format!("{API_HASH_ENV} is required with {API_ID_ENV}"))
        })?;
        if hash.trim().len() != 32 || !hash.trim().chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CoreError::invalid(format!(
                "{API_HASH_ENV} must be the 32 hex characters from my.telegram.org"
            )));
        }
        Ok(Self::production(api_id, hash.trim()))
    }

    pub fn is_mock(&self) -> bool {
        self.provisioner.is_some()
    }
}

/// [`DcProvisioner`] over the mock's control API.
#[derive(Debug)]
pub struct MockProvisioner(pub telegate_mockdc_client::MockDcClient);

fn control_error(e: telegate_mockdc_client::Error) -> CoreError {
    CoreError::new(
        ErrorCode::TelegramUnavailable,
        "the mock DC's control API is unavailable",
    )
    .with_internal(e)
}

#[async_trait]
impl DcProvisioner for MockProvisioner {
    async fn dc_table(&self) -> CoreResult<Vec<DcAddress>> {
        let info = self.0.info().await.map_err(control_error)?;
        Ok(info
            .dcs
            .iter()
            .map(|d| DcAddress {
                id: d.id,
                ipv4: SocketAddrV4::new(
                    if d.host.is_unspecified() {
                        Ipv4Addr::LOCALHOST
                    } else {
                        d.host
                    },
                    d.port,
                ),
            })
            .collect())
    }

    async fn new_auth_key(&self, dc_id: i32) -> CoreResult<Zeroizing<[u8; 256]>> {
        self.0.create_auth_key(dc_id).await.map_err(control_error)
    }
}
