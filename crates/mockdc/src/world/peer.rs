//! Where a message lives: a private chat, a basic group or a channel (broadcast or megagroup).
//!
//! Telegram keeps the three in separate id spaces (a user, a chat and a channel may share a
//! number), so every destination in the world is a [`Peer`], never a bare id. Private chats and
//! basic groups live in each member's own box (per-user message ids, the account's common `pts`);
//! channels have one shared box with their own ids and `pts` (see [`super::channels`]).
//!
//! Senders hand the world a *draft* ([`super::messages::StoredMessage`] with id 0) and a `Peer`;
//! whatever content a draft carries (text, entities, a forward header, media) reaches every kind
//! of destination through the same path.

/// A destination, as Telegram's `Peer` type names it (bare ids, never Bot API `-100…` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Peer {
    /// A private chat with this user (the owner itself for Saved Messages).
    User(i64),
    /// A basic group.
    Chat(i64),
    /// A channel: broadcast, or megagroup (supergroup).
    Channel(i64),
}

impl Default for Peer {
    /// A placeholder for drafts: the world sets the real destination when it stores a message.
    fn default() -> Self {
        Peer::User(0)
    }
}

impl Peer {
    /// The user of a private chat.
    pub fn user_id(self) -> Option<i64> {
        match self {
            Peer::User(id) => Some(id),
            _ => None,
        }
    }

    pub fn chat_id(self) -> Option<i64> {
        match self {
            Peer::Chat(id) => Some(id),
            _ => None,
        }
    }

    pub fn channel_id(self) -> Option<i64> {
        match self {
            Peer::Channel(id) => Some(id),
            _ => None,
        }
    }

    /// The Bot API's single-number form (`123` user, `-456` basic group, `-100789` channel),
    /// which the control API shows so that one number names a chat unambiguously.
    pub fn bot_api_id(self) -> i64 {
        match self {
            Peer::User(id) => id,
            Peer::Chat(id) => -id,
            Peer::Channel(id) => -1_000_000_000_000 - id,
        }
    }

    /// Whether the destination's messages live in each member's own box (common `pts`).
    pub fn in_user_box(self) -> bool {
        !matches!(self, Peer::Channel(_))
    }
}
