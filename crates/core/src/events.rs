//! The durable event stream's payloads: a stable, documented JSON shape (issue 7 item 3).
//!
//! Every event in the store's log is `(id, account_id, type, data, created_at)`; the API
//! streams each as one [`EventEnvelope`]:
//!
//! ```json
//! {"id": 42, "account_id": 7, "type": "message.new", "created_at": 1700000000000,
//!  "data": {"message": {"id": 5, "chat_id": 1001, "sender_id": 1001, "date": 1700000000,
//!                       "text": "hi", "outgoing": false, "silent": false}}}
//! ```
//!
//! | type | data |
//! |---|---|
//! | `message.new` | `{"message": MessageView}` (incoming and outgoing, including the gateway's own sends) |
//! | `message.edited` | `{"message": MessageView}` |
//! | `message.deleted` | `{"chat_id": id or null (private chats and basic groups: ids are per account), "message_ids": [..]}` |
//! | `chat.read` | `{"chat_id", "max_id", "direction": "inbox" or "outbox", "unread_count"?}` |
//! | `chat.member` | `{"chat_id", "user_id", "joined": bool, "invite_link"?, "actor_id"?}` |
//! | `account.state` | `{"state", "previous", "reason"?}` (every state-machine transition) |
//! | `login.qr` | `{"url", "token_expires"}` (a refreshed QR token to show) |
//!
//! New types and new fields may be added; existing ones never change meaning. Types are
//! namespaced so consumers can filter by prefix (`message.`).

use serde::Serialize;
use serde_json::{json, Value};
use telegate_store::{AccountState, NewEvent};

use crate::types::MessageView;

pub const MESSAGE_NEW: &str = "message.new";
pub const MESSAGE_EDITED: &str = "message.edited";
pub const MESSAGE_DELETED: &str = "message.deleted";
pub const CHAT_READ: &str = "chat.read";
pub const CHAT_MEMBER: &str = "chat.member";
pub const ACCOUNT_STATE: &str = "account.state";
pub const LOGIN_QR: &str = "login.qr";

/// Every event type the runtime writes.
pub const ALL_TYPES: &[&str] = &[
    MESSAGE_NEW,
    MESSAGE_EDITED,
    MESSAGE_DELETED,
    CHAT_READ,
    CHAT_MEMBER,
    ACCOUNT_STATE,
    LOGIN_QR,
];

/// One event as streamed to applications.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventEnvelope {
    pub id: i64,
    pub account_id: Option<i64>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix ms (when the gateway wrote it).
    pub created_at: i64,
    pub data: Value,
}

impl From<telegate_store::Event> for EventEnvelope {
    fn from(e: telegate_store::Event) -> Self {
        Self {
            id: e.id,
            account_id: e.account_id,
            kind: e.kind,
            created_at: e.created_at,
            data: e.payload,
        }
    }
}

fn event(account_id: i64, kind: &str, data: Value) -> NewEvent {
    NewEvent {
        account_id: Some(account_id),
        kind: kind.to_owned(),
        payload: data,
    }
}

pub fn message_new(account_id: i64, m: &MessageView) -> NewEvent {
    event(account_id, MESSAGE_NEW, json!({ "message": m }))
}

pub fn message_edited(account_id: i64, m: &MessageView) -> NewEvent {
    event(account_id, MESSAGE_EDITED, json!({ "message": m }))
}

pub fn message_deleted(account_id: i64, chat_id: Option<i64>, ids: &[i32]) -> NewEvent {
    event(
        account_id,
        MESSAGE_DELETED,
        json!({ "chat_id": chat_id, "message_ids": ids }),
    )
}

pub fn chat_read(
    account_id: i64,
    chat_id: i64,
    max_id: i32,
    inbox: bool,
    unread_count: Option<i32>,
) -> NewEvent {
    let mut data = json!({
        "chat_id": chat_id,
        "max_id": max_id,
        "direction": if inbox { "inbox" } else { "outbox" },
    });
    if let Some(n) = unread_count {
        data["unread_count"] = json!(n);
    }
    event(account_id, CHAT_READ, data)
}

pub fn chat_member(
    account_id: i64,
    chat_id: i64,
    user_id: i64,
    joined: bool,
    invite_link: Option<&str>,
    actor_id: Option<i64>,
) -> NewEvent {
    let mut data = json!({ "chat_id": chat_id, "user_id": user_id, "joined": joined });
    if let Some(l) = invite_link {
        data["invite_link"] = json!(l);
    }
    if let Some(a) = actor_id {
        data["actor_id"] = json!(a);
    }
    event(account_id, CHAT_MEMBER, data)
}

pub fn account_state(
    account_id: i64,
    state: AccountState,
    previous: AccountState,
    reason: Option<&str>,
) -> NewEvent {
    let mut data = json!({ "state": state.as_str(), "previous": previous.as_str() });
    if let Some(r) = reason {
        data["reason"] = json!(r);
    }
    event(account_id, ACCOUNT_STATE, data)
}

pub fn login_qr(account_id: i64, url: &str, token_expires: i64) -> NewEvent {
    event(
        account_id,
        LOGIN_QR,
        json!({ "url": url, "token_expires": token_expires }),
    )
}
