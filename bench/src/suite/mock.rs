//! The mock DC the suite measures every contender against: started in-process on a runtime of
//! its own (`--mock-threads` worker threads, named `mockdc-server`), on free loopback ports, and
//! prepared only through its documented control API, as a user's CI would.
//!
//! Accounts are users created with `POST /v1/users` plus, per contender, a pre-shared auth key
//! already logged in as that user (`POST /v1/auth-keys {"dc_id","user_id"}`). That is the
//! fastest way to get 10,000 ready accounts: two small HTTP calls each, no DH (2048-bit modpow
//! per key) and no login round trips. Real DH works for Telethon and GramJS too (see interop/),
//! but would time the handshake rather than the clients. The keys reach the clients as session
//! strings (Telethon's and GramJS' own `StringSession` formats) or, for grammers, as its
//! session's `DcOption.auth_key`.

use anyhow::Context;
use base64::Engine;
use serde_json::json;
use telegate_mockdc::server::{MockDc, MockDcConfig, ReadyDc, ReadyInfo};

use super::control::Control;

/// The DC every benchmark account lives on: the world's default home DC, as on Telegram.
pub const HOME_DC: i32 = 2;

pub struct Mock {
    runtime: tokio::runtime::Runtime,
    dc: Option<MockDc>,
    pub info: ReadyInfo,
    control: Control,
    /// Numbers the users so phones and usernames stay unique across batches.
    next_user: usize,
}

/// A user of the mock's world that benchmark accounts log in as.
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub username: String,
}

/// One account of one contender: the user and a key logged in as it.
#[derive(Clone)]
pub struct Account {
    pub user: User,
    pub key: [u8; 256],
    /// Whom this account sends to (send scenarios), by username.
    pub peer: Option<String>,
}

impl Mock {
    pub fn start(threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(crate::stats::SERVER_THREAD)
            .enable_all()
            .build()?;
        let dc = runtime
            .block_on(MockDc::start(MockDcConfig {
                dcs: 2,
                ..Default::default()
            }))
            .context("start the mock DC")?;
        let info = dc.ready_info().clone();
        let control = Control::new(&info.control_url)?;
        Ok(Self {
            runtime,
            dc: Some(dc),
            info,
            control,
            next_user: 0,
        })
    }

    pub fn home(&self) -> &ReadyDc {
        self.info
            .dcs
            .iter()
            .find(|d| d.id == HOME_DC)
            .expect("the suite's mock has DC 2")
    }

    /// Creates `count` users named `bench_{role}{n}`.
    pub fn create_users(&mut self, role: &str, count: usize) -> anyhow::Result<Vec<User>> {
        let mut users = Vec::with_capacity(count);
        for _ in 0..count {
            let n = self.next_user;
            self.next_user += 1;
            let username = format!("bench_{role}{n}");
            let answer = self.control.post(
                "/v1/users",
                &json!({ "phone": format!("99{n:09}"), "first_name": username, "username": username }),
            )?;
            let id = answer["user_id"]
                .as_i64()
                .with_context(|| format!("POST /v1/users answered {answer}"))?;
            users.push(User { id, username });
        }
        Ok(users)
    }

    /// A fresh key on the home DC already logged in as `user`.
    pub fn authorized_key(&mut self, user: &User) -> anyhow::Result<[u8; 256]> {
        let answer = self.control.post(
            "/v1/auth-keys",
            &json!({ "dc_id": HOME_DC, "user_id": user.id }),
        )?;
        let hex_key = answer["auth_key"]
            .as_str()
            .context("POST /v1/auth-keys answered no auth_key")?;
        hex::decode(hex_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("POST /v1/auth-keys answered a key that is not 256 bytes of hex")
    }

    /// One account per user, each with a key of its own.
    pub fn accounts(
        &mut self,
        users: &[User],
        peers: Option<&[User]>,
    ) -> anyhow::Result<Vec<Account>> {
        users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                Ok(Account {
                    user: user.clone(),
                    key: self.authorized_key(user)?,
                    peer: peers.map(|p| p[i % p.len()].username.clone()),
                })
            })
            .collect()
    }

    /// `POST /v1/faults` (docs/mock-dc.md), e.g. `{"latency_ms": 80}`.
    #[allow(dead_code)] // used by the upload-at-distance scenario once the mock has files
    pub fn fault(&mut self, fault: serde_json::Value) -> anyhow::Result<()> {
        self.control.post("/v1/faults", &fault).map(|_| ())
    }

    pub fn shutdown(mut self) {
        if let Some(dc) = self.dc.take() {
            self.runtime.block_on(dc.shutdown());
        }
    }
}

/// Telethon's `StringSession`: `"1"` + URL-safe base64 (padded) of
/// `dc u8 | IPv4 4 bytes | port u16 BE | key 256`.
pub fn telethon_session(dc: &ReadyDc, key: &[u8; 256]) -> String {
    let mut raw = Vec::with_capacity(263);
    raw.push(dc.id as u8);
    raw.extend(dc.host.octets());
    raw.extend(dc.port.to_be_bytes());
    raw.extend(key);
    format!("1{}", base64::engine::general_purpose::URL_SAFE.encode(raw))
}

/// GramJS' `StringSession`: `"1"` + standard base64 of
/// `dc u8 | address length i16 BE | address | port i16 BE | key 256`. The port is written as 80:
/// GramJS ignores it when connecting (the driver dials the mock's port), and its `save()` throws
/// for ports above 32767, which a real port here often is.
pub fn gramjs_session(dc: &ReadyDc, key: &[u8; 256]) -> String {
    let address = dc.host.to_string();
    let mut raw = Vec::with_capacity(261 + address.len());
    raw.push(dc.id as u8);
    raw.extend((address.len() as i16).to_be_bytes());
    raw.extend(address.as_bytes());
    raw.extend(80i16.to_be_bytes());
    raw.extend(key);
    format!("1{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn dc() -> ReadyDc {
        ReadyDc {
            id: 2,
            host: Ipv4Addr::LOCALHOST,
            port: 40002,
            ws_url: String::new(),
        }
    }

    #[test]
    fn telethon_session_has_telethons_length_and_layout() {
        let key = [7u8; 256];
        let s = telethon_session(&dc(), &key);
        assert_eq!(
            s.len(),
            353,
            "Telethon's IPv4 strings are 352 chars after the version"
        );
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(&s[1..])
            .unwrap();
        assert_eq!(&raw[..7], &[2, 127, 0, 0, 1, 0x9c, 0x42]);
        assert_eq!(&raw[7..], &key);
    }

    #[test]
    fn gramjs_session_names_the_address_and_port_80() {
        let key = [9u8; 256];
        let s = gramjs_session(&dc(), &key);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&s[1..])
            .unwrap();
        assert_eq!(raw[0], 2);
        assert_eq!(i16::from_be_bytes([raw[1], raw[2]]), 9);
        assert_eq!(&raw[3..12], b"127.0.0.1");
        assert_eq!(i16::from_be_bytes([raw[12], raw[13]]), 80);
        assert_eq!(&raw[14..], &key);
        // Not 352 characters after the version, or GramJS would read it as a Telethon string.
        assert_ne!(s.len() - 1, 352);
    }
}
