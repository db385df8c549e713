//! A typed client for the mock DC's control API (see docs/mock-dc.md).
//!
//! Why a crate of its own: the runtime (`telegate-core`) must provision auth keys through the
//! mock's control API when pointed at a mock, but must not contain HTTP code itself; tests and
//! benchmarks drive the mock through the same client. It deliberately does not depend on
//! `telegate-mockdc` (the mock must not share the gateway's code, and vice versa the client
//! speaks only the documented JSON).
//!
//! Plain HTTP/1.1 over hyper-util's pooled client: the control API only ever listens on
//! loopback, so there is no TLS stack to build or configure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), telegate_mockdc_client::Error> {
//! let mock = telegate_mockdc_client::MockDcClient::new("http://127.0.0.1:40100")?;
//! let info = mock.info().await?;
//! let key = mock.create_auth_key(info.dcs[0].id).await?; // 256 bytes, zeroized on drop
//! let alice = mock.create_user(&telegate_mockdc_client::NewUser::new("+15550001", "Alice")).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::Ipv4Addr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// Errors of the control-API client. None carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid control URL {0:?}: expected http://host:port")]
    InvalidUrl(String),
    #[error("control API unreachable: {0}")]
    Transport(String),
    /// The mock answered with an error (`{"error": "..."}`).
    #[error("control API answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("unexpected control API answer: {0}")]
    Decode(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One DC as the mock lists it (`/v1/info`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DcInfo {
    pub id: i32,
    pub host: Ipv4Addr,
    pub port: u16,
    #[serde(default)]
    pub ws_url: Option<String>,
}

/// The mock's ready line (`GET /v1/info`).
#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    pub dcs: Vec<DcInfo>,
    pub control_url: String,
    #[serde(default)]
    pub rsa: Option<Value>,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize)]
pub struct NewUser {
    pub phone: String,
    pub first_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A 2FA password (the mock stores only the SRP verifier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dc_id: Option<i32>,
}

impl NewUser {
    pub fn new(phone: impl Into<String>, first_name: impl Into<String>) -> Self {
        Self {
            phone: phone.into(),
            first_name: first_name.into(),
            last_name: None,
            username: None,
            password: None,
            dc_id: None,
        }
    }
    pub fn username(mut self, u: impl Into<String>) -> Self {
        self.username = Some(u.into());
        self
    }
    pub fn password(mut self, p: impl Into<String>) -> Self {
        self.password = Some(p.into());
        self
    }
    pub fn dc(mut self, dc_id: i32) -> Self {
        self.dc_id = Some(dc_id);
        self
    }
}

/// A user created in the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct CreatedUser {
    pub user_id: i64,
    pub dc_id: i32,
}

/// A bot created in the mock; `token` is the bot token to log in with.
#[derive(Clone, Deserialize)]
pub struct CreatedBot {
    pub user_id: i64,
    pub token: String,
}

impl fmt::Debug for CreatedBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedBot")
            .field("user_id", &self.user_id)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// One message of a user's box (`GET /v1/users/{id}/messages`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BoxMessage {
    pub id: i32,
    pub peer: i64,
    pub from: i64,
    pub out: bool,
    pub date: i64,
    pub text: String,
    #[serde(default)]
    pub edit_date: Option<i64>,
    #[serde(default)]
    pub forwarded_from: Option<i64>,
}

/// A user's box: messages newest first, and the box's pts.
#[derive(Debug, Clone, Deserialize)]
pub struct Mailbox {
    pub messages: Vec<BoxMessage>,
    pub pts: i32,
}

/// A typed client of the mock DC's control API. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct MockDcClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl fmt::Debug for MockDcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockDcClient")
            .field("base", &self.base)
            .finish()
    }
}

impl MockDcClient {
    /// `control_url` as printed by the mock (`http://127.0.0.1:PORT`).
    pub fn new(control_url: &str) -> Result<Self> {
        let base = control_url.trim_end_matches('/').to_string();
        let uri: Uri = base
            .parse()
            .map_err(|_| Error::InvalidUrl(control_url.into()))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(Error::InvalidUrl(control_url.into()));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { base, http })
    }

    /// The URL this client talks to.
    pub fn control_url(&self) -> &str {
        &self.base
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let uri: Uri = format!("{}{}", self.base, path)
            .parse()
            .map_err(|_| Error::InvalidUrl(format!("{}{}", self.base, path)))?;
        let mut req = Request::builder().method(method).uri(uri);
        let payload = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&v).map_err(|e| Error::Decode(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| Error::Transport(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Transport(e.to_string()))?
            .to_bytes();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                Error::Decode(format!(
                    "{status}: {e}: {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?
        };
        if status != StatusCode::OK {
            let message = value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            return Err(Error::Api {
                status: status.as_u16(),
                message,
            });
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    fn decode<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T> {
        serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<bool> {
        Ok(self.get("/v1/health").await?["ok"] == json!(true))
    }

    /// `GET /v1/info`: the DC table.
    pub async fn info(&self) -> Result<Info> {
        Self::decode(self.get("/v1/info").await?)
    }

    /// `POST /v1/auth-keys`: a new pre-shared auth key registered on `dc_id`.
    pub async fn create_auth_key(&self, dc_id: i32) -> Result<Zeroizing<[u8; 256]>> {
        let v = self
            .post("/v1/auth-keys", json!({ "dc_id": dc_id }))
            .await?;
        let hex_key = Zeroizing::new(
            v.get("auth_key")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Decode("auth-keys answer without auth_key".into()))?
                .to_owned(),
        );
        let mut key = Zeroizing::new([0u8; 256]);
        hex::decode_to_slice(hex_key.as_bytes(), &mut key[..])
            .map_err(|_| Error::Decode("auth_key is not 512 hex characters".into()))?;
        Ok(key)
    }

    /// `POST /v1/users`.
    pub async fn create_user(&self, user: &NewUser) -> Result<CreatedUser> {
        let body = serde_json::to_value(user).map_err(|e| Error::Decode(e.to_string()))?;
        Self::decode(self.post("/v1/users", body).await?)
    }

    /// `GET /v1/users/{id}` (no secrets).
    pub async fn user(&self, user_id: i64) -> Result<Value> {
        self.get(&format!("/v1/users/{user_id}")).await
    }

    /// `DELETE /v1/users/{id}`: USER_DEACTIVATED from then on.
    pub async fn delete_user(&self, user_id: i64) -> Result<()> {
        self.call(Method::DELETE, &format!("/v1/users/{user_id}"), None)
            .await
            .map(drop)
    }

    /// `POST /v1/users/{id}/revoke`: every key of the user answers SESSION_REVOKED.
    pub async fn revoke_user(&self, user_id: i64) -> Result<u64> {
        let v = self
            .post(&format!("/v1/users/{user_id}/revoke"), json!({}))
            .await?;
        Ok(v["revoked"].as_u64().unwrap_or(0))
    }

    /// `POST /v1/users/{id}/ban`: USER_DEACTIVATED_BAN from then on.
    pub async fn ban_user(&self, user_id: i64) -> Result<()> {
        self.post(&format!("/v1/users/{user_id}/ban"), json!({}))
            .await
            .map(drop)
    }

    /// `POST /v1/bots`.
    pub async fn create_bot(&self, username: &str) -> Result<CreatedBot> {
        Self::decode(
            self.post("/v1/bots", json!({ "username": username }))
                .await?,
        )
    }

    /// `GET /v1/login-codes/{phone}`: the code the mock "sent".
    pub async fn login_code(&self, phone: &str) -> Result<String> {
        let v = self
            .get(&format!(
                "/v1/login-codes/{}",
                phone.trim_start_matches('+')
            ))
            .await?;
        v["code"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::Decode("login-codes answer without code".into()))
    }

    /// `POST /v1/qr-login/accept`: as if `user_id` scanned the QR code (`token` base64url).
    pub async fn accept_qr_login(&self, user_id: i64, token: &str) -> Result<()> {
        self.post(
            "/v1/qr-login/accept",
            json!({ "user_id": user_id, "token": token }),
        )
        .await
        .map(drop)
    }

    /// `POST /v1/messages`: `from_user_id` sends `text` to `peer` (a user id or `@username`);
    /// returns the message id in the sender's box.
    pub async fn send_message(&self, from_user_id: i64, peer: &str, text: &str) -> Result<i32> {
        let v = self
            .post(
                "/v1/messages",
                json!({ "from_user_id": from_user_id, "peer": peer, "text": text }),
            )
            .await?;
        v["message_id"]
            .as_i64()
            .map(|id| id as i32)
            .ok_or_else(|| Error::Decode("messages answer without message_id".into()))
    }

    /// `GET /v1/users/{id}/messages?peer=&limit=`: the user's box, newest first.
    pub async fn messages(
        &self,
        user_id: i64,
        peer: Option<&str>,
        limit: usize,
    ) -> Result<Mailbox> {
        let mut path = format!("/v1/users/{user_id}/messages?limit={limit}");
        if let Some(peer) = peer {
            path.push_str("&peer=");
            path.push_str(&peer.replace('@', "%40"));
        }
        Self::decode(self.get(&path).await?)
    }

    /// `POST /v1/faults` with one fault as documented (e.g.
    /// `json!({"method":"messages.sendMessage","error":"FLOOD_WAIT_3","count":1})`).
    pub async fn add_fault(&self, fault: Value) -> Result<Value> {
        self.post("/v1/faults", fault).await
    }

    /// `DELETE /v1/faults`.
    pub async fn clear_faults(&self) -> Result<()> {
        self.call(Method::DELETE, "/v1/faults", None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(MockDcClient::new("http://127.0.0.1:1").is_ok());
        assert!(matches!(
            MockDcClient::new("ftp://x"),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(
            MockDcClient::new("not a url"),
            Err(Error::InvalidUrl(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let c = MockDcClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        assert!(matches!(c.health().await, Err(Error::Transport(_))));
    }
}
