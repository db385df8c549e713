//! State shared by every connection of every simulated datacenter: the DC table, the RSA key,
//! registered auth keys, server salts and MTProto sessions.
//!
//! It is plain data behind locks, with no I/O: the tokio driver persists what needs persisting
//! (see [`Cluster::take_dirty_keys`]) and the protocol engine reads and writes it in memory.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, RwLock};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::crypto::AuthKey;
use crate::rsa_key::RsaKeyPair;
use crate::session::Session;
use crate::world::{World, WorldConfig};

/// Salts change every 30 minutes, as Telegram's do; the previous one stays valid for one more
/// period so requests in flight across a boundary are not refused.
pub const SALT_PERIOD_SECS: i64 = 1800;
/// Sessions kept before idle ones are forgotten (grammers opens a new session per connection, so
/// a long benchmark would otherwise grow the table without bound).
const MAX_SESSIONS: usize = 50_000;
/// A session idle this long may be forgotten when the table is full.
const SESSION_IDLE_MS: u64 = 15 * 60 * 1000;

/// Where one simulated datacenter listens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DcAddress {
    pub id: i32,
    pub host: Ipv4Addr,
    pub port: u16,
}

/// An authorization key known to one DC. Keys are per DC, as on Telegram: a key made on DC 1 is
/// unknown (-404) on DC 2 until it is exported/imported or registered there.
#[derive(Debug)]
pub struct KeyEntry {
    pub dc_id: i32,
    pub key: AuthKey,
    /// The salt agreed in the DH handshake (`new_nonce ^ server_nonce`), valid until the given
    /// unix time; `None` for pre-shared keys.
    pub first_salt: Option<(i64, i64)>,
}

/// An update to push to online sessions, encoded when delivered, in each session's layer.
pub type Push = Arc<dyn Fn(Option<i32>) -> Vec<u8> + Send + Sync>;

/// A connection that wants the updates of the sessions it serves.
struct Subscriber {
    session_id: i64,
    connection_id: u64,
    sender: tokio::sync::mpsc::UnboundedSender<Push>,
}

/// MTProto sessions by (auth key id, session id).
type SessionTable = HashMap<(i64, i64), Arc<Mutex<Session>>>;

/// Everything the DCs share.
pub struct Cluster {
    dcs: Vec<DcAddress>,
    rsa: Arc<RsaKeyPair>,
    /// Secret input to the salt schedule; salts are derived, not stored, so they survive nothing
    /// and need no cleanup.
    salt_secret: [u8; 32],
    keys: RwLock<HashMap<i64, Arc<KeyEntry>>>,
    /// Set whenever a key is added, so the driver knows to write the state directory.
    keys_dirty: Mutex<bool>,
    sessions: Mutex<SessionTable>,
    /// The simulated Telegram: users, logins, messages. One lock: the mock favours obviously
    /// correct ordering over parallelism.
    world: Mutex<World>,
    /// Bumped to make every driver close its connection (fault injection).
    drops: tokio::sync::watch::Sender<u64>,
    /// Injected faults (control API `/v1/faults`).
    faults: Mutex<crate::faults::Faults>,
    /// auth key id → connections currently serving one of its sessions.
    subscribers: Mutex<HashMap<i64, Vec<Subscriber>>>,
    /// Uploads, documents and photos; their bytes on disk (see [`crate::files`]).
    files: crate::files::Files,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dcs", &self.dcs)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A cluster whose uploads go to a fresh temporary directory.
    ///
    /// # Panics
    /// If no temporary directory can be made.
    pub fn new(dcs: Vec<DcAddress>, rsa: Arc<RsaKeyPair>) -> Self {
        let store = crate::files::BlobStore::temporary().expect("a temporary directory for files");
        Self::with_blob_store(dcs, rsa, store)
    }

    /// A cluster whose uploads go to `store` (`<state-dir>/files`).
    pub fn with_blob_store(
        dcs: Vec<DcAddress>,
        rsa: Arc<RsaKeyPair>,
        store: crate::files::BlobStore,
    ) -> Self {
        let mut salt_secret = [0u8; 32];
        rand::rng().fill_bytes(&mut salt_secret);
        Self {
            dcs,
            rsa,
            salt_secret,
            keys: RwLock::new(HashMap::new()),
            keys_dirty: Mutex::new(false),
            sessions: Mutex::new(HashMap::new()),
            world: Mutex::new(World::new(WorldConfig::default())),
            subscribers: Mutex::new(HashMap::new()),
            faults: Mutex::new(crate::faults::Faults::default()),
            drops: tokio::sync::watch::channel(0).0,
            files: crate::files::Files::new(store),
        }
    }

    pub fn files(&self) -> &crate::files::Files {
        &self.files
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("world lock")
    }

    /// Closes every open client connection (drivers watch this).
    pub fn drop_connections(&self) {
        self.drops.send_modify(|generation| *generation += 1);
    }

    /// Changes whenever connections must be dropped.
    pub fn drop_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.drops.subscribe()
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, crate::faults::Faults> {
        self.faults.lock().expect("faults lock")
    }

    pub fn dcs(&self) -> &[DcAddress] {
        &self.dcs
    }

    pub fn rsa(&self) -> &Arc<RsaKeyPair> {
        &self.rsa
    }

    pub fn has_dc(&self, dc_id: i32) -> bool {
        self.dcs.iter().any(|dc| dc.id == dc_id)
    }

    /// Registers a key on a DC (from a finished handshake, the control API or the state dir).
    pub fn add_key(
        &self,
        dc_id: i32,
        key: AuthKey,
        first_salt: Option<(i64, i64)>,
    ) -> Arc<KeyEntry> {
        let entry = Arc::new(KeyEntry {
            dc_id,
            key,
            first_salt,
        });
        self.keys
            .write()
            .expect("keys lock")
            .insert(entry.key.id(), entry.clone());
        *self.keys_dirty.lock().expect("dirty lock") = true;
        entry
    }

    /// Makes a fresh random key and registers it on `dc_id` (pre-shared keys for clients such as
    /// grammers that cannot do DH against a server whose RSA key they do not know).
    pub fn register_random_key(&self, dc_id: i32) -> AuthKey {
        let mut bytes = [0u8; 256];
        rand::rng().fill_bytes(&mut bytes);
        let key = AuthKey::from_bytes(bytes);
        self.add_key(dc_id, key.clone(), None);
        key
    }

    /// The key with this id if it is registered on this DC.
    pub fn key(&self, dc_id: i32, key_id: i64) -> Option<Arc<KeyEntry>> {
        self.keys
            .read()
            .expect("keys lock")
            .get(&key_id)
            .filter(|entry| entry.dc_id == dc_id)
            .cloned()
    }

    /// All keys, for persisting; clears the dirty flag. `None` when nothing changed.
    pub fn take_dirty_keys(&self) -> Option<Vec<(i32, AuthKey)>> {
        let mut dirty = self.keys_dirty.lock().expect("dirty lock");
        if !*dirty {
            return None;
        }
        *dirty = false;
        Some(
            self.keys
                .read()
                .expect("keys lock")
                .values()
                .map(|e| (e.dc_id, e.key.clone()))
                .collect(),
        )
    }

    /// The salt of the period containing `unix_secs` for this key.
    pub fn salt_for(&self, key_id: i64, unix_secs: i64) -> i64 {
        let period = unix_secs.div_euclid(SALT_PERIOD_SECS);
        let digest = Sha256::new()
            .chain_update(self.salt_secret)
            .chain_update(key_id.to_le_bytes())
            .chain_update(period.to_le_bytes())
            .finalize();
        i64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    /// Whether a client may use `salt` now: the current or previous period's salt, or the salt
    /// from the handshake while it lasts.
    pub fn salt_is_valid(&self, entry: &KeyEntry, salt: i64, unix_secs: i64) -> bool {
        if let Some((first, until)) = entry.first_salt {
            if salt == first && unix_secs < until {
                return true;
            }
        }
        salt == self.salt_for(entry.key.id(), unix_secs)
            || salt == self.salt_for(entry.key.id(), unix_secs - SALT_PERIOD_SECS)
    }

    /// The session `(key, session_id)`, created if new; the flag says whether it was created.
    pub fn session(
        &self,
        key_id: i64,
        session_id: i64,
        now_ms: u64,
    ) -> (Arc<Mutex<Session>>, bool) {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(&(key_id, session_id)) {
            forget_idle_sessions(&mut sessions, now_ms);
        }
        let mut created = false;
        let session = sessions
            .entry((key_id, session_id))
            .or_insert_with(|| {
                created = true;
                Arc::new(Mutex::new(Session::new(session_id)))
            })
            .clone();
        session.lock().expect("session lock").last_active_ms = now_ms;
        (session, created)
    }

    /// Forgets a session (`destroy_session`); true if it existed.
    pub fn destroy_session(&self, key_id: i64, session_id: i64) -> bool {
        self.sessions
            .lock()
            .expect("sessions lock")
            .remove(&(key_id, session_id))
            .is_some()
    }

    /// A connection now serves `(key_id, session_id)` and takes its updates.
    pub fn subscribe(
        &self,
        key_id: i64,
        session_id: i64,
        connection_id: u64,
        sender: tokio::sync::mpsc::UnboundedSender<Push>,
    ) {
        let mut subscribers = self.subscribers.lock().expect("subscribers lock");
        let list = subscribers.entry(key_id).or_default();
        list.retain(|s| s.connection_id != connection_id && !s.sender.is_closed());
        list.push(Subscriber {
            session_id,
            connection_id,
            sender,
        });
    }

    pub fn unsubscribe(&self, key_id: i64, connection_id: u64) {
        let mut subscribers = self.subscribers.lock().expect("subscribers lock");
        if let Some(list) = subscribers.get_mut(&key_id) {
            list.retain(|s| s.connection_id != connection_id);
            if list.is_empty() {
                subscribers.remove(&key_id);
            }
        }
    }

    /// Pushes an update to every online session of these keys but `except` (the session that
    /// made the request gets its answer in the result instead). Returns how many received it.
    pub fn deliver(&self, keys: &[i64], except: Option<(i64, i64)>, push: &Push) -> usize {
        let subscribers = self.subscribers.lock().expect("subscribers lock");
        let mut delivered = 0;
        for key in keys {
            for s in subscribers.get(key).into_iter().flatten() {
                if Some((*key, s.session_id)) != except && s.sender.send(push.clone()).is_ok() {
                    delivered += 1;
                }
            }
        }
        delivered
    }

    pub fn session_count(&self) -> usize {
        self.sessions.lock().expect("sessions lock").len()
    }
}

/// Drops sessions idle for long; if that is not enough, the least recently used half, so the
/// sweep's O(n) cost is paid at most once per n/2 new sessions. A connection still holding a
/// dropped session keeps working; only resuming it from another connection is lost.
fn forget_idle_sessions(sessions: &mut SessionTable, now_ms: u64) {
    let last_active = |s: &Arc<Mutex<Session>>| s.lock().map(|s| s.last_active_ms).unwrap_or(0);
    sessions.retain(|_, s| now_ms.saturating_sub(last_active(s)) < SESSION_IDLE_MS);
    if sessions.len() >= MAX_SESSIONS {
        let mut ages: Vec<u64> = sessions.values().map(last_active).collect();
        let (_, median, _) = ages.select_nth_unstable(sessions.len() / 2);
        let cutoff = *median;
        sessions.retain(|_, s| last_active(s) > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_table_is_bounded() {
        let cluster = Cluster::new(Vec::new(), Arc::new(RsaKeyPair::generate()));
        for i in 0..(MAX_SESSIONS as i64 + 10) {
            cluster.session(1, i, i as u64);
        }
        assert!(cluster.session_count() <= MAX_SESSIONS);
        // The most recent sessions survive.
        let (_, created) = cluster.session(1, MAX_SESSIONS as i64 + 9, 0);
        assert!(!created);
    }
}
