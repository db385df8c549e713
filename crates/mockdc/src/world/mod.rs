//! The simulated Telegram world: users, bots, logins and authorizations, layer-independent.
//!
//! RPC handlers in [`crate::rpc`] translate TL requests into calls here and encode the answers in
//! the client's layer; the control API calls the same methods. Errors are Telegram's own
//! `(code, NAME)` pairs so handlers pass them through unchanged.

use std::collections::HashMap;

use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::srp::{self, PasswordVerifier, SrpChallenge};

pub mod channels;
pub mod chats;
pub mod contacts;
pub mod invites;
pub mod login;
pub mod messages;
pub mod peer;

pub use peer::Peer;

use messages::Mailbox;

/// A Telegram RPC error: `code` like an HTTP status, `name` in SCREAMING_SNAKE_CASE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub code: i32,
    pub name: String,
}

impl Fail {
    pub fn new(code: i32, name: impl Into<String>) -> Self {
        Self {
            code,
            name: name.into(),
        }
    }
    fn bad(name: &str) -> Self {
        Self::new(400, name)
    }
    fn unauthorized(name: &str) -> Self {
        Self::new(401, name)
    }
    fn migrate(kind: &str, dc_id: i32) -> Self {
        Self::new(303, format!("{kind}_MIGRATE_{dc_id}"))
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.name)
    }
}

/// Whether an account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Active,
    /// Deleted: every call answers USER_DEACTIVATED.
    Deleted,
    /// Banned: every call answers USER_DEACTIVATED_BAN.
    Banned,
}

/// A user or bot account.
pub struct User {
    pub id: i64,
    pub phone: Option<String>,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub dc_id: i32,
    pub bot: bool,
    pub bot_token: Option<String>,
    pub password: Option<PasswordVerifier>,
    pub state: AccountState,
    pub premium: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("dc_id", &self.dc_id)
            .field("bot", &self.bot)
            .field("has_password", &self.password.is_some())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A login code sent by `auth.sendCode`, waiting for `auth.signIn`.
struct PendingCode {
    code: String,
    phone_code_hash: String,
    expires_at: i64,
    dc_id: i32,
}

/// One auth key bound to an account (what `account.getAuthorizations` lists).
#[derive(Debug, Clone)]
pub struct Authorization {
    pub user_id: i64,
    pub dc_id: i32,
    /// The id `account.resetAuthorization` takes.
    pub hash: i64,
    pub created: i64,
    pub api_id: i32,
}

/// Why a key cannot act for a user any more; kept so the key gets the right error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoked {
    /// Logged out or terminated from another session.
    SessionRevoked,
}

/// Knobs of the world (the control API can change them).
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// How long a login code stays valid.
    pub code_ttl_secs: i64,
    /// Whether an unknown phone may sign up (otherwise signIn answers PHONE_NUMBER_UNOCCUPIED).
    pub allow_sign_up: bool,
    /// Home DC of accounts created without one.
    pub default_dc: i32,
    pub login_code_length: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            code_ttl_secs: 300,
            allow_sign_up: true,
            default_dc: 2,
            login_code_length: 5,
        }
    }
}

/// What `auth.signIn` leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    Authorized(i64),
    SignUpRequired,
}

/// Everything simulated, behind one lock in [`crate::cluster::Cluster`].
pub struct World {
    pub config: WorldConfig,
    /// Secret input to access hashes, so they are stable but unguessable.
    secret: [u8; 32],
    next_user_id: i64,
    users: HashMap<i64, User>,
    by_phone: HashMap<String, i64>,
    by_username: HashMap<String, i64>,
    by_bot_token: HashMap<String, i64>,
    codes: HashMap<String, PendingCode>,
    authorizations: HashMap<i64, Authorization>,
    revoked: HashMap<i64, Revoked>,
    /// Keys that passed the code step and wait for the 2FA password: key id → user id.
    password_pending: HashMap<i64, i64>,
    /// The outstanding SRP challenge per user (a new account.getPassword replaces it).
    srp: HashMap<i64, SrpChallenge>,
    /// Each user's message box (private chats share one pts sequence per user).
    boxes: HashMap<i64, Mailbox>,
    /// QR login tokens by token bytes.
    login_tokens: HashMap<Vec<u8>, login::PendingLoginToken>,
    /// auth.exportAuthorization tickets by bytes.
    exported: HashMap<Vec<u8>, login::ExportedAuthorization>,
    /// Groups, channels, invite links and contacts.
    pub social: chats::Social,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

/// Digits only: Telegram accepts `+1 234-567` and `1234567` for the same phone.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()".contains(c));
    (allowed && (5..=15).contains(&digits.len())).then_some(digits)
}

fn valid_username(username: &str) -> bool {
    (4..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
}

/// Fields of a new account (control API `POST /v1/users`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub phone: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub dc_id: Option<i32>,
}

impl World {
    pub fn new(config: WorldConfig) -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self {
            config,
            secret,
            // Ids in the range real user ids have, so clients' peer packing is exercised.
            next_user_id: 777_000_001,
            users: HashMap::new(),
            by_phone: HashMap::new(),
            by_username: HashMap::new(),
            by_bot_token: HashMap::new(),
            codes: HashMap::new(),
            authorizations: HashMap::new(),
            revoked: HashMap::new(),
            password_pending: HashMap::new(),
            srp: HashMap::new(),
            boxes: HashMap::new(),
            login_tokens: HashMap::new(),
            exported: HashMap::new(),
            social: chats::Social::default(),
        }
    }

    pub fn user(&self, user_id: i64) -> Option<&User> {
        self.users.get(&user_id)
    }

    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.by_username
            .get(&username.trim_start_matches('@').to_ascii_lowercase())
            .and_then(|id| self.users.get(id))
    }

    /// The access hash `viewer` sees for `target`: stable per pair, as Telegram's are per viewer.
    pub fn access_hash(&self, viewer: i64, target: i64) -> i64 {
        let digest = Sha256::new()
            .chain_update(self.secret)
            .chain_update(viewer.to_le_bytes())
            .chain_update(target.to_le_bytes())
            .finalize();
        i64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    fn allocate_user_id(&mut self) -> i64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        id
    }

    fn check_new_username(&self, username: &Option<String>) -> Result<(), String> {
        if let Some(name) = username {
            let name = name.trim_start_matches('@');
            if !valid_username(name) {
                return Err(format!(
                    "username {name:?} must be 4-32 letters, digits or underscores, starting with a letter"
                ));
            }
            if self.by_username.contains_key(&name.to_ascii_lowercase()) {
                return Err(format!("username {name:?} is taken"));
            }
        }
        Ok(())
    }

    fn index_username(&mut self, user_id: i64, username: &Option<String>) {
        if let Some(name) = username {
            self.by_username
                .insert(name.trim_start_matches('@').to_ascii_lowercase(), user_id);
        }
    }

    /// Creates a user account; errors name the offending field.
    pub fn create_user(&mut self, new: NewUser, dc_count: i32) -> Result<&User, String> {
        let phone = normalize_phone(&new.phone).ok_or_else(|| {
            format!(
                "phone {:?} must be 5-15 digits (with optional +, spaces, dashes)",
                new.phone
            )
        })?;
        if self.by_phone.contains_key(&phone) {
            return Err(format!("phone {phone} is already registered"));
        }
        if new.first_name.trim().is_empty() {
            return Err("first_name must not be empty".into());
        }
        self.check_new_username(&new.username)?;
        let dc_id = new.dc_id.unwrap_or(self.config.default_dc.min(dc_count));
        if !(1..=dc_count).contains(&dc_id) {
            return Err(format!(
                "dc_id {dc_id} does not exist; this mock serves DCs 1..={dc_count}"
            ));
        }
        let id = self.allocate_user_id();
        let password = new
            .password
            .as_deref()
            .map(|p| PasswordVerifier::new(p, &mut rand::rng()));
        self.by_phone.insert(phone.clone(), id);
        self.index_username(id, &new.username);
        self.users.insert(
            id,
            User {
                id,
                phone: Some(phone),
                first_name: new.first_name,
                last_name: new.last_name,
                username: new.username.map(|u| u.trim_start_matches('@').to_string()),
                dc_id,
                bot: false,
                bot_token: None,
                password,
                state: AccountState::Active,
                premium: false,
            },
        );
        Ok(&self.users[&id])
    }

    /// Creates a bot; returns its id and token `ID:SECRET`.
    pub fn create_bot(
        &mut self,
        username: &str,
        first_name: Option<String>,
        dc_count: i32,
    ) -> Result<(i64, String), String> {
        let username = username.trim_start_matches('@').to_string();
        if !username.to_ascii_lowercase().ends_with("bot") {
            return Err(format!("bot username {username:?} must end in \"bot\""));
        }
        self.check_new_username(&Some(username.clone()))?;
        let id = self.allocate_user_id();
        let mut secret = [0u8; 24];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{id}:{}", hex::encode(secret));
        self.index_username(id, &Some(username.clone()));
        self.by_bot_token.insert(token.clone(), id);
        self.users.insert(
            id,
            User {
                id,
                phone: None,
                first_name: first_name.unwrap_or_else(|| username.clone()),
                last_name: None,
                username: Some(username),
                dc_id: self.config.default_dc.min(dc_count),
                bot: true,
                bot_token: Some(token.clone()),
                password: None,
                state: AccountState::Active,
                premium: false,
            },
        );
        Ok((id, token))
    }

    /// `auth.sendCode`: issues a code for `phone` on `dc_id`; the code is readable through the
    /// control API only.
    pub fn send_code(
        &mut self,
        dc_id: i32,
        phone: &str,
        now: i64,
    ) -> Result<(String, usize), Fail> {
        let phone = normalize_phone(phone).ok_or_else(|| Fail::bad("PHONE_NUMBER_INVALID"))?;
        let home = match self.by_phone.get(&phone).map(|id| &self.users[id]) {
            Some(user) => {
                self.check_usable(user)?;
                user.dc_id
            }
            None => dc_id,
        };
        if home != dc_id {
            return Err(Fail::migrate("PHONE", home));
        }
        let mut rng = rand::rng();
        let code: String = match test_number_code(&phone, home, self.config.login_code_length) {
            Some(code) => code,
            None => (0..self.config.login_code_length)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect(),
        };
        let mut hash = [0u8; 9];
        rng.fill_bytes(&mut hash);
        let phone_code_hash = hex::encode(hash);
        self.codes.insert(
            phone,
            PendingCode {
                code,
                phone_code_hash: phone_code_hash.clone(),
                expires_at: now + self.config.code_ttl_secs,
                dc_id,
            },
        );
        Ok((phone_code_hash, self.config.login_code_length))
    }

    /// The pending login code of a phone (control API; never logged).
    pub fn login_code(&self, phone: &str) -> Option<&str> {
        self.codes
            .get(&normalize_phone(phone)?)
            .map(|c| c.code.as_str())
    }

    fn check_code(
        &mut self,
        dc_id: i32,
        phone: &str,
        phone_code_hash: &str,
        code: Option<&str>,
        now: i64,
    ) -> Result<String, Fail> {
        let phone = normalize_phone(phone).ok_or_else(|| Fail::bad("PHONE_NUMBER_INVALID"))?;
        if phone_code_hash.is_empty() {
            return Err(Fail::bad("PHONE_CODE_HASH_EMPTY"));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Fail::bad("PHONE_CODE_EMPTY"))?;
        let pending = self
            .codes
            .get(&phone)
            .ok_or_else(|| Fail::bad("PHONE_CODE_EXPIRED"))?;
        if pending.phone_code_hash != phone_code_hash || pending.dc_id != dc_id {
            return Err(Fail::bad("PHONE_CODE_EXPIRED"));
        }
        if now >= pending.expires_at {
            self.codes.remove(&phone);
            return Err(Fail::bad("PHONE_CODE_EXPIRED"));
        }
        if pending.code != code {
            return Err(Fail::bad("PHONE_CODE_INVALID"));
        }
        Ok(phone)
    }

    /// `auth.signIn`.
    pub fn sign_in(
        &mut self,
        dc_id: i32,
        key_id: i64,
        phone: &str,
        phone_code_hash: &str,
        code: Option<&str>,
        now: i64,
    ) -> Result<SignIn, Fail> {
        let phone = self.check_code(dc_id, phone, phone_code_hash, code, now)?;
        let Some(&user_id) = self.by_phone.get(&phone) else {
            if !self.config.allow_sign_up {
                return Err(Fail::bad("PHONE_NUMBER_UNOCCUPIED"));
            }
            return Ok(SignIn::SignUpRequired);
        };
        self.check_usable(&self.users[&user_id])?;
        if self.users[&user_id].password.is_some() {
            self.codes.remove(&phone);
            self.password_pending.insert(key_id, user_id);
            return Err(Fail::unauthorized("SESSION_PASSWORD_NEEDED"));
        }
        self.codes.remove(&phone);
        self.authorize(key_id, user_id, dc_id, now);
        Ok(SignIn::Authorized(user_id))
    }

    /// `auth.signUp`: creates the account for a phone that signIn found unoccupied.
    // The arguments are auth.signUp's own fields.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_up(
        &mut self,
        dc_id: i32,
        key_id: i64,
        phone: &str,
        phone_code_hash: &str,
        first_name: &str,
        last_name: &str,
        now: i64,
    ) -> Result<i64, Fail> {
        let normalized = normalize_phone(phone).ok_or_else(|| Fail::bad("PHONE_NUMBER_INVALID"))?;
        if self.by_phone.contains_key(&normalized) {
            return Err(Fail::bad("PHONE_NUMBER_OCCUPIED"));
        }
        let pending = self
            .codes
            .get(&normalized)
            .ok_or_else(|| Fail::bad("PHONE_CODE_EXPIRED"))?;
        if pending.phone_code_hash != phone_code_hash || now >= pending.expires_at {
            return Err(Fail::bad("PHONE_CODE_EXPIRED"));
        }
        if first_name.trim().is_empty() || first_name.len() > 64 {
            return Err(Fail::bad("FIRST_NAME_INVALID"));
        }
        self.codes.remove(&normalized);
        let id = self.allocate_user_id();
        self.by_phone.insert(normalized.clone(), id);
        self.users.insert(
            id,
            User {
                id,
                phone: Some(normalized),
                first_name: first_name.to_string(),
                last_name: (!last_name.is_empty()).then(|| last_name.to_string()),
                username: None,
                dc_id,
                bot: false,
                bot_token: None,
                password: None,
                state: AccountState::Active,
                premium: false,
            },
        );
        self.authorize(key_id, id, dc_id, now);
        Ok(id)
    }

    /// `account.getPassword`: for a key waiting for its 2FA step, or an authorized one.
    pub fn get_password(
        &mut self,
        key_id: i64,
    ) -> Result<Option<(&PasswordVerifier, &SrpChallenge)>, Fail> {
        let user_id = match self.password_pending.get(&key_id) {
            Some(&user_id) => user_id,
            None => self.user_of(key_id)?,
        };
        let Some(verifier) = self.users[&user_id].password.as_ref() else {
            return Ok(None);
        };
        let challenge = srp::challenge(verifier, &mut rand::rng());
        self.srp.insert(user_id, challenge);
        Ok(Some((
            self.users[&user_id].password.as_ref().expect("checked"),
            &self.srp[&user_id],
        )))
    }

    /// `auth.checkPassword`: verifies the SRP proof and completes the login.
    pub fn check_password(
        &mut self,
        dc_id: i32,
        key_id: i64,
        srp_id: i64,
        a: &[u8],
        m1: &[u8],
        now: i64,
    ) -> Result<i64, Fail> {
        let user_id = *self
            .password_pending
            .get(&key_id)
            .ok_or_else(|| Fail::bad("PASSWORD_HASH_INVALID"))?;
        // A challenge stays valid until it succeeds or a new account.getPassword replaces it:
        // grammers retries a wrong password with the same srp_id, so Telegram evidently keeps it.
        let challenge = self
            .srp
            .get(&user_id)
            .ok_or_else(|| Fail::bad("SRP_ID_INVALID"))?;
        let verifier = self.users[&user_id]
            .password
            .as_ref()
            .ok_or_else(|| Fail::bad("PASSWORD_HASH_INVALID"))?;
        srp::verify(verifier, challenge, srp_id, a, m1).map_err(|e| match e {
            srp::SrpError::SrpIdInvalid => Fail::bad("SRP_ID_INVALID"),
            srp::SrpError::BadA => Fail::bad("SRP_A_INVALID"),
            srp::SrpError::PasswordHashInvalid => Fail::bad("PASSWORD_HASH_INVALID"),
        })?;
        self.srp.remove(&user_id);
        self.password_pending.remove(&key_id);
        self.authorize(key_id, user_id, dc_id, now);
        Ok(user_id)
    }

    /// `auth.importBotAuthorization`.
    pub fn import_bot(
        &mut self,
        dc_id: i32,
        key_id: i64,
        token: &str,
        now: i64,
    ) -> Result<i64, Fail> {
        let user_id = *self
            .by_bot_token
            .get(token)
            .ok_or_else(|| Fail::bad("ACCESS_TOKEN_INVALID"))?;
        let user = &self.users[&user_id];
        self.check_usable(user)?;
        if user.dc_id != dc_id {
            return Err(Fail::migrate("USER", user.dc_id));
        }
        self.authorize(key_id, user_id, dc_id, now);
        Ok(user_id)
    }

    /// Binds a key to a user (the end of every successful login).
    pub fn authorize(&mut self, key_id: i64, user_id: i64, dc_id: i32, now: i64) {
        self.revoked.remove(&key_id);
        self.password_pending.remove(&key_id);
        self.authorizations.insert(
            key_id,
            Authorization {
                user_id,
                dc_id,
                hash: rand::random::<i64>() & i64::MAX,
                created: now,
                api_id: 0,
            },
        );
    }

    /// `auth.logOut`: the key forgets its user.
    pub fn log_out(&mut self, key_id: i64) -> Result<(), Fail> {
        self.user_of(key_id)?;
        self.authorizations.remove(&key_id);
        self.revoked.insert(key_id, Revoked::SessionRevoked);
        Ok(())
    }

    /// Every key of a user stops working (control API revoke, auth.resetAuthorizations).
    pub fn revoke_user_keys(&mut self, user_id: i64, except_key: Option<i64>) -> usize {
        let keys: Vec<i64> = self
            .authorizations
            .iter()
            .filter(|(key, a)| a.user_id == user_id && Some(**key) != except_key)
            .map(|(key, _)| *key)
            .collect();
        for key in &keys {
            self.authorizations.remove(key);
            self.revoked.insert(*key, Revoked::SessionRevoked);
        }
        keys.len()
    }

    /// Marks a user premium (or not): 8000 upload parts instead of 4000, `user.premium`.
    pub fn set_premium(&mut self, user_id: i64, premium: bool) -> bool {
        match self.users.get_mut(&user_id) {
            Some(user) => {
                user.premium = premium;
                true
            }
            None => false,
        }
    }

    pub fn set_state(&mut self, user_id: i64, state: AccountState) -> bool {
        match self.users.get_mut(&user_id) {
            Some(user) => {
                user.state = state;
                true
            }
            None => false,
        }
    }

    fn check_usable(&self, user: &User) -> Result<(), Fail> {
        match user.state {
            AccountState::Active => Ok(()),
            AccountState::Deleted => Err(Fail::unauthorized("USER_DEACTIVATED")),
            AccountState::Banned => Err(Fail::unauthorized("USER_DEACTIVATED_BAN")),
        }
    }

    /// The user a key acts for, or the error Telegram gives a key without one.
    pub fn user_of(&self, key_id: i64) -> Result<i64, Fail> {
        match self.authorizations.get(&key_id) {
            Some(authorization) => {
                self.check_usable(&self.users[&authorization.user_id])?;
                Ok(authorization.user_id)
            }
            None => match self.revoked.get(&key_id) {
                Some(Revoked::SessionRevoked) => Err(Fail::unauthorized("SESSION_REVOKED")),
                None => Err(Fail::unauthorized("AUTH_KEY_UNREGISTERED")),
            },
        }
    }

    /// Every key currently authorized for the user (where its updates go).
    pub fn keys_of(&self, user_id: i64) -> Vec<i64> {
        self.authorizations
            .iter()
            .filter(|(_, a)| a.user_id == user_id)
            .map(|(k, _)| *k)
            .collect()
    }

    pub fn authorizations_of(&self, user_id: i64) -> Vec<(i64, &Authorization)> {
        let mut list: Vec<(i64, &Authorization)> = self
            .authorizations
            .iter()
            .filter(|(_, a)| a.user_id == user_id)
            .map(|(k, a)| (*k, a))
            .collect();
        list.sort_by_key(|(_, a)| a.created);
        list
    }

    /// `account.resetAuthorization(hash)`: terminates another session of the same user.
    pub fn reset_authorization(&mut self, key_id: i64, hash: i64) -> Result<(), Fail> {
        let user_id = self.user_of(key_id)?;
        let target = self
            .authorizations
            .iter()
            .find(|(_, a)| a.user_id == user_id && a.hash == hash)
            .map(|(k, _)| *k)
            .ok_or_else(|| Fail::bad("HASH_INVALID"))?;
        if target == key_id {
            return Err(Fail::bad("HASH_INVALID"));
        }
        self.authorizations.remove(&target);
        self.revoked.insert(target, Revoked::SessionRevoked);
        Ok(())
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
}

/// Telegram's test phone numbers (core.telegram.org/api/auth#test-accounts): `99966XYYYY`,
/// X the DC, get the code X repeated ("22222" on DC 2), so scripts can log in without reading
/// the code anywhere. Only for a number whose home is that DC, as on Telegram's test DCs.
fn test_number_code(phone: &str, home_dc: i32, length: usize) -> Option<String> {
    let digits = phone.strip_prefix("99966")?;
    let dc = digits.chars().next()?.to_digit(10)? as i32;
    (digits.len() == 5 && digits.chars().all(|c| c.is_ascii_digit()) && dc == home_dc && dc > 0)
        .then(|| dc.to_string().repeat(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_with(password: Option<&str>) -> (World, i64) {
        let mut world = World::new(WorldConfig::default());
        let id = world
            .create_user(
                NewUser {
                    phone: "+1 555 0100".into(),
                    first_name: "Ada".into(),
                    password: password.map(String::from),
                    ..Default::default()
                },
                5,
            )
            .unwrap()
            .id;
        (world, id)
    }

    #[test]
    fn test_numbers_get_the_dc_digit_as_code() {
        let mut world = World::new(WorldConfig::default());
        for (phone, dc) in [("9996621234", 2), ("+99966 3 0001", 3)] {
            world
                .create_user(
                    NewUser {
                        phone: phone.into(),
                        first_name: "Test".into(),
                        dc_id: Some(dc),
                        ..Default::default()
                    },
                    5,
                )
                .unwrap();
            world.send_code(dc, phone, 0).unwrap();
            assert_eq!(world.login_code(phone).unwrap(), dc.to_string().repeat(5));
        }
        // Any other number gets a random code (so not, in general, the test-number one).
        let (mut world, _) = world_with(None);
        let codes: std::collections::HashSet<String> = (0..5)
            .map(|i| {
                world.send_code(2, "15550100", i).unwrap();
                world.login_code("15550100").unwrap().to_owned()
            })
            .collect();
        assert!(codes.len() > 1, "{codes:?}");
    }

    #[test]
    fn code_login_errors_are_telegrams() {
        let (mut world, id) = world_with(None);
        assert_eq!(
            world.send_code(2, "12", 0).unwrap_err(),
            Fail::new(400, "PHONE_NUMBER_INVALID")
        );
        assert_eq!(
            world.send_code(4, "15550100", 0).unwrap_err(),
            Fail::new(303, "PHONE_MIGRATE_2")
        );
        let (hash, _) = world.send_code(2, "15550100", 0).unwrap();
        let code = world.login_code("+15550100").unwrap().to_string();
        assert_eq!(
            world.sign_in(2, 1, "15550100", &hash, None, 1).unwrap_err(),
            Fail::new(400, "PHONE_CODE_EMPTY")
        );
        assert_eq!(
            world
                .sign_in(2, 1, "15550100", &hash, Some("00000x"), 1)
                .unwrap_err(),
            Fail::new(400, "PHONE_CODE_INVALID")
        );
        assert_eq!(
            world
                .sign_in(2, 1, "15550100", "other", Some(&code), 1)
                .unwrap_err(),
            Fail::new(400, "PHONE_CODE_EXPIRED")
        );
        assert_eq!(
            world.user_of(1).unwrap_err(),
            Fail::new(401, "AUTH_KEY_UNREGISTERED")
        );
        assert_eq!(
            world
                .sign_in(2, 1, "15550100", &hash, Some(&code), 1)
                .unwrap(),
            SignIn::Authorized(id)
        );
        assert_eq!(world.user_of(1).unwrap(), id);
        world.log_out(1).unwrap();
        assert_eq!(
            world.user_of(1).unwrap_err(),
            Fail::new(401, "SESSION_REVOKED")
        );

        let (hash, _) = world.send_code(2, "15550100", 0).unwrap();
        let code = world.login_code("15550100").unwrap().to_string();
        assert_eq!(
            world
                .sign_in(2, 1, "15550100", &hash, Some(&code), 301)
                .unwrap_err(),
            Fail::new(400, "PHONE_CODE_EXPIRED")
        );
    }

    #[test]
    fn two_factor_errors_are_telegrams() {
        let (mut world, _) = world_with(Some("secret"));
        let (hash, _) = world.send_code(2, "15550100", 0).unwrap();
        let code = world.login_code("15550100").unwrap().to_string();
        assert_eq!(
            world
                .sign_in(2, 3, "15550100", &hash, Some(&code), 1)
                .unwrap_err(),
            Fail::new(401, "SESSION_PASSWORD_NEEDED")
        );
        // The key is still not authorized, and a stray checkPassword is refused.
        assert_eq!(
            world.user_of(3).unwrap_err(),
            Fail::new(401, "AUTH_KEY_UNREGISTERED")
        );
        assert_eq!(
            world
                .check_password(2, 4, 1, &[2], &[0; 32], 1)
                .unwrap_err(),
            Fail::new(400, "PASSWORD_HASH_INVALID")
        );
        let srp_id = world
            .get_password(3)
            .unwrap()
            .expect("has a password")
            .1
            .srp_id;
        assert_eq!(
            world
                .check_password(2, 3, srp_id ^ 1, &[2], &[0; 32], 1)
                .unwrap_err(),
            Fail::new(400, "SRP_ID_INVALID")
        );
        assert_eq!(
            world
                .check_password(2, 3, srp_id, &[2], &[0; 32], 1)
                .unwrap_err(),
            Fail::new(400, "PASSWORD_HASH_INVALID")
        );
        assert_eq!(
            world.user_of(3).unwrap_err(),
            Fail::new(401, "AUTH_KEY_UNREGISTERED")
        );
    }

    #[test]
    fn unknown_phones_sign_up_or_are_unoccupied() {
        let mut world = World::new(WorldConfig::default());
        let (hash, _) = world.send_code(2, "+44 7000 000000", 0).unwrap();
        let code = world.login_code("447000000000").unwrap().to_string();
        assert_eq!(
            world
                .sign_in(2, 9, "447000000000", &hash, Some(&code), 1)
                .unwrap(),
            SignIn::SignUpRequired
        );
        assert_eq!(
            world
                .sign_up(2, 9, "447000000000", &hash, "", "", 1)
                .unwrap_err(),
            Fail::new(400, "FIRST_NAME_INVALID")
        );
        let id = world
            .sign_up(2, 9, "447000000000", &hash, "Bo", "", 1)
            .unwrap();
        assert_eq!(world.user_of(9).unwrap(), id);

        world.config.allow_sign_up = false;
        let (hash, _) = world.send_code(2, "447000000001", 0).unwrap();
        let code = world.login_code("447000000001").unwrap().to_string();
        assert_eq!(
            world
                .sign_in(2, 10, "447000000001", &hash, Some(&code), 1)
                .unwrap_err(),
            Fail::new(400, "PHONE_NUMBER_UNOCCUPIED")
        );
    }

    #[test]
    fn bots_and_account_states() {
        let (mut world, user) = world_with(None);
        let (bot, token) = world.create_bot("helper_bot", None, 5).unwrap();
        assert!(token.starts_with(&format!("{bot}:")));
        assert_eq!(
            world.import_bot(2, 5, "1:wrong", 0).unwrap_err(),
            Fail::new(400, "ACCESS_TOKEN_INVALID")
        );
        assert_eq!(
            world.import_bot(3, 5, &token, 0).unwrap_err(),
            Fail::new(303, "USER_MIGRATE_2")
        );
        assert_eq!(world.import_bot(2, 5, &token, 0).unwrap(), bot);
        assert!(world.create_bot("helper_robot_x", None, 5).is_err());
        assert!(world
            .create_bot("helper_bot", None, 5)
            .unwrap_err()
            .contains("taken"));

        let (hash, _) = world.send_code(2, "15550100", 0).unwrap();
        let code = world.login_code("15550100").unwrap().to_string();
        world
            .sign_in(2, 7, "15550100", &hash, Some(&code), 0)
            .unwrap();
        world.set_state(user, AccountState::Banned);
        assert_eq!(
            world.user_of(7).unwrap_err(),
            Fail::new(401, "USER_DEACTIVATED_BAN")
        );
        world.set_state(user, AccountState::Deleted);
        assert_eq!(
            world.user_of(7).unwrap_err(),
            Fail::new(401, "USER_DEACTIVATED")
        );
        assert_eq!(
            world.send_code(2, "15550100", 0).unwrap_err(),
            Fail::new(401, "USER_DEACTIVATED")
        );
    }

    #[test]
    fn access_hashes_are_per_viewer_and_stable() {
        let world = World::new(WorldConfig::default());
        assert_eq!(world.access_hash(1, 2), world.access_hash(1, 2));
        assert_ne!(world.access_hash(1, 2), world.access_hash(3, 2));
    }

    #[test]
    fn create_user_names_bad_fields() {
        let mut world = World::new(WorldConfig::default());
        let bad_phone = NewUser {
            phone: "abc".into(),
            first_name: "X".into(),
            ..Default::default()
        };
        assert!(world
            .create_user(bad_phone, 5)
            .unwrap_err()
            .contains("phone"));
        let bad_dc = NewUser {
            phone: "123456".into(),
            first_name: "X".into(),
            dc_id: Some(9),
            ..Default::default()
        };
        assert!(world
            .create_user(bad_dc, 5)
            .unwrap_err()
            .contains("dc_id 9"));
        let bad_name = NewUser {
            phone: "123456".into(),
            first_name: "X".into(),
            username: Some("a b".into()),
            ..Default::default()
        };
        assert!(world
            .create_user(bad_name, 5)
            .unwrap_err()
            .contains("username"));
    }
}
