//! The logins that move an authorization between keys: QR login (core.telegram.org/api/qr-login)
//! and `auth.exportAuthorization`/`importAuthorization` (one user on several DCs' keys).

use rand::RngCore;

use super::{Fail, World};

/// QR login tokens expire after 30 seconds, as Telegram's do.
pub const LOGIN_TOKEN_TTL_SECS: i64 = 30;
/// Exported authorizations are single-use and short-lived.
const EXPORTED_AUTHORIZATION_TTL_SECS: i64 = 300;

/// A QR login token waiting to be accepted by a logged-in session.
#[derive(Debug)]
pub struct PendingLoginToken {
    pub key_id: i64,
    pub dc_id: i32,
    pub expires_at: i64,
    /// Set once another session accepted the token.
    pub accepted_by: Option<i64>,
}

/// An `auth.exportedAuthorization` waiting to be imported on another DC.
#[derive(Debug)]
pub struct ExportedAuthorization {
    pub user_id: i64,
    pub target_dc: i32,
    pub expires_at: i64,
}

/// What `auth.exportLoginToken`/`importLoginToken` answer.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginTokenState {
    /// Show this token (as `tg://login?token=base64url`), valid until `expires`.
    Waiting { token: Vec<u8>, expires: i64 },
    /// Accepted: the key is now authorized for this user.
    Success(i64),
    /// Accepted, but the user lives on another DC: import the token there.
    MigrateTo { dc_id: i32, token: Vec<u8> },
}

fn random_token() -> Vec<u8> {
    let mut token = vec![0u8; 32];
    rand::rng().fill_bytes(&mut token);
    token
}

impl World {
    /// `auth.exportLoginToken`: a new token, or the outcome if a previous one was accepted.
    pub fn export_login_token(
        &mut self,
        dc_id: i32,
        key_id: i64,
        now: i64,
    ) -> Result<LoginTokenState, Fail> {
        self.login_tokens
            .retain(|_, t| t.expires_at > now || t.accepted_by.is_some());
        let accepted = self
            .login_tokens
            .iter()
            .find(|(_, t)| t.key_id == key_id && t.accepted_by.is_some())
            .map(|(token, t)| (token.clone(), t.accepted_by.expect("accepted")));
        if let Some((token, user_id)) = accepted {
            return self.finish_login_token(dc_id, key_id, &token, user_id, now);
        }
        let token = random_token();
        let expires = now + LOGIN_TOKEN_TTL_SECS;
        self.login_tokens.insert(
            token.clone(),
            PendingLoginToken {
                key_id,
                dc_id,
                expires_at: expires,
                accepted_by: None,
            },
        );
        Ok(LoginTokenState::Waiting { token, expires })
    }

    fn finish_login_token(
        &mut self,
        dc_id: i32,
        key_id: i64,
        token: &[u8],
        user_id: i64,
        now: i64,
    ) -> Result<LoginTokenState, Fail> {
        let home = self
            .user(user_id)
            .map(|u| u.dc_id)
            .ok_or_else(|| Fail::new(400, "AUTH_TOKEN_INVALID"))?;
        if home != dc_id {
            // The token moves with the client to the user's DC (importLoginToken there).
            if let Some(pending) = self.login_tokens.get_mut(token) {
                pending.dc_id = home;
                pending.key_id = 0;
            }
            return Ok(LoginTokenState::MigrateTo {
                dc_id: home,
                token: token.to_vec(),
            });
        }
        self.login_tokens.remove(token);
        self.authorize(key_id, user_id, dc_id, now);
        Ok(LoginTokenState::Success(user_id))
    }

    /// `auth.importLoginToken` on the DC the token migrated to.
    pub fn import_login_token(
        &mut self,
        dc_id: i32,
        key_id: i64,
        token: &[u8],
        now: i64,
    ) -> Result<LoginTokenState, Fail> {
        let pending = self
            .login_tokens
            .get(token)
            .ok_or_else(|| Fail::new(400, "AUTH_TOKEN_INVALID"))?;
        if pending.expires_at <= now && pending.accepted_by.is_none() {
            self.login_tokens.remove(token);
            return Err(Fail::new(400, "AUTH_TOKEN_EXPIRED"));
        }
        match pending.accepted_by {
            Some(user_id) => self.finish_login_token(dc_id, key_id, token, user_id, now),
            None => Ok(LoginTokenState::Waiting {
                token: token.to_vec(),
                expires: pending.expires_at,
            }),
        }
    }

    /// `auth.acceptLoginToken` by a logged-in user (or the control API): returns the waiting
    /// key, which must be told with `updateLoginToken`.
    pub fn accept_login_token(
        &mut self,
        user_id: i64,
        token: &[u8],
        now: i64,
    ) -> Result<i64, Fail> {
        let pending = self
            .login_tokens
            .get_mut(token)
            .ok_or_else(|| Fail::new(400, "AUTH_TOKEN_INVALID"))?;
        if pending.expires_at <= now {
            self.login_tokens.remove(token);
            return Err(Fail::new(400, "AUTH_TOKEN_EXPIRED"));
        }
        if pending.accepted_by.is_some() {
            return Err(Fail::new(400, "AUTH_TOKEN_ALREADY_ACCEPTED"));
        }
        pending.accepted_by = Some(user_id);
        Ok(pending.key_id)
    }

    /// `auth.exportAuthorization(dc_id)`: a one-time ticket for the same user on another DC.
    pub fn export_authorization(
        &mut self,
        key_id: i64,
        from_dc: i32,
        target_dc: i32,
        dc_count: i32,
        now: i64,
    ) -> Result<(i64, Vec<u8>), Fail> {
        let user_id = self.user_of(key_id)?;
        if !(1..=dc_count).contains(&target_dc) || target_dc == from_dc {
            return Err(Fail::new(400, "DC_ID_INVALID"));
        }
        let bytes = random_token();
        self.exported.insert(
            bytes.clone(),
            ExportedAuthorization {
                user_id,
                target_dc,
                expires_at: now + EXPORTED_AUTHORIZATION_TTL_SECS,
            },
        );
        Ok((user_id, bytes))
    }

    /// `auth.importAuthorization(id, bytes)` on the target DC.
    pub fn import_authorization(
        &mut self,
        dc_id: i32,
        key_id: i64,
        user_id: i64,
        bytes: &[u8],
        now: i64,
    ) -> Result<i64, Fail> {
        let exported = self
            .exported
            .remove(bytes)
            .ok_or_else(|| Fail::new(400, "AUTH_BYTES_INVALID"))?;
        if exported.user_id != user_id || exported.target_dc != dc_id || exported.expires_at <= now
        {
            return Err(Fail::new(400, "AUTH_BYTES_INVALID"));
        }
        self.authorize(key_id, user_id, dc_id, now);
        Ok(user_id)
    }
}
