//! grammers' `Session` trait implemented over the store, for one account.
//!
//! Why: grammers-client keeps its home DC, DC options with auth keys, peers and update state in a
//! `Session`; giving it one backed by the store means a gateway restart loses nothing and the
//! keys are sealed at rest. grammers calls `home_dc_id` and `dc_option` synchronously on every
//! request, so those come from an in-memory cache; every change is written through to the store
//! before the returned future completes.
//!
//! Peers are cached in memory up to [`SessionOptions::peer_cache_capacity`] entries and read from
//! the store on a miss (10,000 accounts × 1,000 peers would not fit comfortably otherwise).
//! `peer(PeerId::self_user())` maps to the cached self user: grammers' update receiver only calls
//! `updates.getState` when that returns a user (see the interop notes), and `MemorySession` does
//! not do this mapping.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::sync::{Arc, Mutex, MutexGuard};

use grammers_session::types::{
    ChannelKind, ChannelState, DcOption, PeerAuth, PeerId, PeerInfo, UpdateState, UpdatesState,
};
use grammers_session::{BoxFuture, Session, SessionData};

use crate::error::{Result, StoreError};
use crate::model::{AuthKey, CachedPeer, DcSession, PeerKind, PeerPreload, SessionSnapshot};
use crate::store::Store;

/// Tuning of a [`StoreSession`].
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Peers kept in memory; beyond it, entries are evicted (they stay in the store).
    pub peer_cache_capacity: usize,
    /// Load every cached peer at start instead of on first use.
    pub preload: PeerPreload,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            peer_cache_capacity: 4096,
            preload: PeerPreload::Lazy,
        }
    }
}

struct CachedDc {
    ipv4: SocketAddrV4,
    ipv6: SocketAddrV6,
    auth_key: Option<AuthKey>,
}

struct Cache {
    home_dc: i32,
    dcs: HashMap<i32, CachedDc>,
    self_user: Option<PeerInfo>,
    peers: HashMap<PeerId, PeerInfo>,
    updates: UpdatesState,
}

/// A grammers `Session` for one account, persisted in a [`Store`].
pub struct StoreSession {
    store: Arc<dyn Store>,
    account_id: i64,
    opts: SessionOptions,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for StoreSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSession")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Converts grammers' peer info to a cache row. `None` for the self-user sentinel without id.
pub fn peer_from_info(info: &PeerInfo) -> Option<CachedPeer> {
    let peer_id = info.id().bot_api_dialog_id()?;
    Some(match info {
        PeerInfo::User {
            auth, bot, is_self, ..
        } => CachedPeer {
            peer_id,
            kind: PeerKind::User,
            access_hash: auth.map(|a| a.hash()),
            is_bot: *bot,
            is_self: is_self.unwrap_or(false),
            channel_kind: None,
            username: None,
            phone: None,
            display_name: None,
        },
        PeerInfo::Chat { .. } => CachedPeer {
            peer_id,
            kind: PeerKind::Chat,
            access_hash: None,
            is_bot: None,
            is_self: false,
            channel_kind: None,
            username: None,
            phone: None,
            display_name: None,
        },
        PeerInfo::Channel { auth, kind, .. } => CachedPeer {
            peer_id,
            kind: PeerKind::Channel,
            access_hash: auth.map(|a| a.hash()),
            is_bot: None,
            is_self: false,
            channel_kind: kind.map(|k| k as i32),
            username: None,
            phone: None,
            display_name: None,
        },
    })
}

/// Converts a cache row back to grammers' peer info.
pub fn info_from_peer(p: &CachedPeer) -> Option<PeerInfo> {
    let bare = PeerId::from_bot_api_dialog_id(p.peer_id)?.bare_id()?;
    Some(match p.kind {
        PeerKind::User => PeerInfo::User {
            id: bare,
            auth: p.access_hash.map(PeerAuth::from_hash),
            bot: p.is_bot,
            is_self: p.is_self.then_some(true),
        },
        PeerKind::Chat => PeerInfo::Chat { id: bare },
        PeerKind::Channel => PeerInfo::Channel {
            id: bare,
            auth: p.access_hash.map(PeerAuth::from_hash),
            kind: p.channel_kind.and_then(|k| match k {
                1 => Some(ChannelKind::Broadcast),
                2 => Some(ChannelKind::Megagroup),
                3 => Some(ChannelKind::Gigagroup),
                4 => Some(ChannelKind::Community),
                _ => None,
            }),
        },
    })
}

fn default_dcs() -> HashMap<i32, DcOption> {
    SessionData::default().dc_options
}

impl StoreSession {
    /// Loads one account's session from the store.
    pub async fn load(
        store: Arc<dyn Store>,
        account_id: i64,
        opts: SessionOptions,
    ) -> Result<Self> {
        let snap = store
            .load_session(account_id, opts.preload)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("account {account_id}")))?;
        Ok(Self::from_snapshot(store, snap, opts))
    }

    /// Builds a session from an already loaded snapshot (see [`Store::load_all_sessions`]).
    pub fn from_snapshot(
        store: Arc<dyn Store>,
        snap: SessionSnapshot,
        opts: SessionOptions,
    ) -> Self {
        let defaults = default_dcs();
        let mut dcs: HashMap<i32, CachedDc> = defaults
            .values()
            .map(|d| {
                (
                    d.id,
                    CachedDc {
                        ipv4: d.ipv4,
                        ipv6: d.ipv6,
                        auth_key: None,
                    },
                )
            })
            .collect();
        for d in snap.dcs {
            let fallback = defaults.get(&d.dc_id);
            let ipv4 = d
                .ipv4
                .or(fallback.map(|f| f.ipv4))
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 443));
            let ipv6 = d
                .ipv6
                .or(fallback.map(|f| f.ipv6))
                .unwrap_or(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 443, 0, 0));
            dcs.insert(
                d.dc_id,
                CachedDc {
                    ipv4,
                    ipv6,
                    auth_key: d.auth_key,
                },
            );
        }
        let self_user = snap.self_peer.as_ref().and_then(info_from_peer);
        let mut peers = HashMap::new();
        let cap = opts.peer_cache_capacity.max(1);
        for p in snap.self_peer.iter().chain(snap.peers.iter()).take(cap) {
            if let Some(info) = info_from_peer(p) {
                peers.insert(info.id(), info);
            }
        }
        Self {
            store,
            account_id: snap.account.id,
            opts,
            cache: Mutex::new(Cache {
                home_dc: snap.account.home_dc,
                dcs,
                self_user,
                peers,
                updates: snap.updates,
            }),
        }
    }

    pub fn account_id(&self) -> i64 {
        self.account_id
    }

    /// Number of peers currently held in memory.
    pub fn cached_peers(&self) -> usize {
        self.cache().peers.len()
    }

    /// Records in the in-memory cache an update state that the caller has already persisted
    /// (the runtime writes pts/qts/seq in the same transaction as the events they cover, see
    /// `Store::commit_group`), so a client rebuilt on this session resumes from there.
    pub fn note_committed_state(&self, update: &UpdateState) {
        self.cache_update_state(update);
    }

    /// Applies `update` to the cache; returns the value to persist.
    fn cache_update_state(&self, update: &UpdateState) -> UpdateState {
        let mut c = self.cache();
        match update {
            UpdateState::All(s) => {
                c.updates = s.clone();
                UpdateState::All(s.clone())
            }
            UpdateState::Primary { pts, date, seq } => {
                c.updates.pts = *pts;
                c.updates.date = *date;
                c.updates.seq = *seq;
                UpdateState::Primary {
                    pts: *pts,
                    date: *date,
                    seq: *seq,
                }
            }
            UpdateState::Secondary { qts } => {
                c.updates.qts = *qts;
                UpdateState::Secondary { qts: *qts }
            }
            UpdateState::Channel { id, pts } => {
                c.updates.channels.retain(|ch| ch.id != *id);
                c.updates.channels.push(ChannelState { id: *id, pts: *pts });
                UpdateState::Channel { id: *id, pts: *pts }
            }
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the cache half-updated in a way that
        // matters (every update is a single insert/assign), so poisoning is ignored.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, cache: &mut Cache, info: PeerInfo) {
        if cache.peers.len() >= self.opts.peer_cache_capacity.max(1) {
            // Cheap eviction of an arbitrary quarter; evicted peers stay in the store.
            let drop_n = cache.peers.len() / 4 + 1;
            let victims: Vec<PeerId> = cache.peers.keys().take(drop_n).copied().collect();
            for v in victims {
                cache.peers.remove(&v);
            }
        }
        cache.peers.insert(info.id(), info);
    }

    /// Merges `incoming` into the cache; returns the rows that must be written.
    fn merge_peers(&self, incoming: &[PeerInfo]) -> Vec<CachedPeer> {
        let mut cache = self.cache();
        let mut writes = Vec::new();
        for info in incoming {
            let id = info.id();
            let merged = match cache.peers.get(&id) {
                Some(old) => {
                    let mut m = old.clone();
                    m.extend_info(info);
                    if &m == old {
                        continue; // nothing new: no write
                    }
                    m
                }
                None => info.clone(),
            };
            if matches!(
                merged,
                PeerInfo::User {
                    is_self: Some(true),
                    ..
                }
            ) {
                cache.self_user = Some(merged.clone());
            }
            if let Some(row) = peer_from_info(&merged) {
                writes.push(row);
            }
            self.remember(&mut cache, merged);
        }
        writes
    }
}

impl Session for StoreSession {
    type Error = StoreError;

    fn home_dc_id(&self) -> Result<i32> {
        Ok(self.cache().home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let changed = {
                let mut c = self.cache();
                std::mem::replace(&mut c.home_dc, dc_id) != dc_id
            };
            if changed {
                self.store.set_home_dc(self.account_id, dc_id).await?;
            }
            Ok(())
        })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>> {
        let c = self.cache();
        Ok(c.dcs.get(&dc_id).map(|d| DcOption {
            id: dc_id,
            ipv4: d.ipv4,
            ipv6: d.ipv6,
            auth_key: d.auth_key.as_ref().map(|k| *k.expose()),
        }))
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<()>> {
        let id = dc_option.id;
        let ipv4 = dc_option.ipv4;
        let ipv6 = dc_option.ipv6;
        let key = dc_option.auth_key.as_ref().map(AuthKey::new);
        Box::pin(async move {
            let changed = {
                let mut c = self.cache();
                let entry = c.dcs.entry(id).or_insert(CachedDc {
                    ipv4,
                    ipv6,
                    auth_key: None,
                });
                let key_changed = key.is_some() && entry.auth_key != key;
                let changed = key_changed || entry.ipv4 != ipv4 || entry.ipv6 != ipv6;
                entry.ipv4 = ipv4;
                entry.ipv6 = ipv6;
                if key_changed {
                    entry.auth_key = key.clone();
                }
                changed
            };
            if changed {
                self.store
                    .put_dc_session(
                        self.account_id,
                        &DcSession {
                            dc_id: id,
                            ipv4: Some(ipv4),
                            ipv6: Some(ipv6),
                            auth_key: key,
                            revoked_at: None,
                        },
                    )
                    .await?;
            }
            Ok(())
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>>> {
        Box::pin(async move {
            if peer == PeerId::self_user() {
                if let Some(me) = self.cache().self_user.clone() {
                    return Ok(Some(me));
                }
                let me = self.store.self_peer(self.account_id).await?;
                let info = me.as_ref().and_then(info_from_peer);
                if let Some(info) = &info {
                    let mut c = self.cache();
                    c.self_user = Some(info.clone());
                    self.remember(&mut c, info.clone());
                }
                return Ok(info);
            }
            if let Some(hit) = self.cache().peers.get(&peer).cloned() {
                return Ok(Some(hit));
            }
            let Some(dialog_id) = peer.bot_api_dialog_id() else {
                return Ok(None);
            };
            let found = self.store.peer(self.account_id, dialog_id).await?;
            let info = found.as_ref().and_then(info_from_peer);
            if let Some(info) = &info {
                let mut c = self.cache();
                self.remember(&mut c, info.clone());
            }
            Ok(info)
        })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<()>> {
        self.cache_peers(vec![peer])
    }

    fn cache_peers(&self, peers: Vec<PeerInfo>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let writes = self.merge_peers(&peers);
            if !writes.is_empty() {
                self.store.upsert_peers(self.account_id, &writes).await?;
            }
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState>> {
        Box::pin(async move { Ok(self.cache().updates.clone()) })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let persisted = self.cache_update_state(&update);
            self.store
                .set_update_state(self.account_id, persisted)
                .await
        })
    }
}
