//! Updates that are never lost (issue 6 item 6).
//!
//! One consumer task per connected account drives grammers' `UpdatesReceiver` (with
//! `catch_up`: it starts from the stored pts/qts/seq and channel pts, and fills gaps with
//! getDifference / getChannelDifference). Each batch it returns becomes **one** store write —
//! events + mirror (messages, edits, deletions, chats' last_message_at and unread counts, read
//! state, member joins) + peers + the batch's update state — through the group-commit writer.
//! The next batch is only pulled after that commit, so the persisted state never runs ahead of
//! the persisted events: after a crash, getDifference resumes exactly after the last committed
//! batch; nothing is lost and nothing is written twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use grammers_mtsender::{UpdatesConfiguration, UpdatesReceiver};
use grammers_session::types::{PeerId, PeerInfo, UpdateState};
use grammers_session::updates::{MessageBox, State};
use grammers_session::Session as _;
use grammers_tl_types as tl;
use telegate_store::{AccountState, ChatActivity, UpdateBatch};
use tokio::task::JoinHandle;
use tracing::{debug, warn, Instrument};

use crate::account::{Account, Conn, Control};
use crate::convert::{
    self, chat_id, chat_kind, chat_title, chat_username, message_view, mirror_message,
};
use crate::events;

/// Starts the consumer for `conn` (takes grammers' update channel from it).
pub(crate) async fn spawn_consumer(
    acct: &Arc<Account>,
    conn: &Arc<Conn>,
) -> Option<JoinHandle<()>> {
    let rx = conn.raw_updates.lock().await.take()?;
    let receiver = match UpdatesReceiver::create(
        conn.fat.thin.clone(),
        conn.fat.session.clone(),
        rx,
        UpdatesConfiguration { catch_up: true },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            warn!(account_id = acct.id, error = %e, "cannot start the update stream");
            return None;
        }
    };
    let acct = acct.clone();
    let conn = conn.clone();
    let span = tracing::debug_span!("updates", account_id = acct.id);
    Some(tokio::spawn(consume(acct, conn, receiver).instrument(span)))
}

async fn consume(acct: Arc<Account>, conn: Arc<Conn>, mut receiver: UpdatesReceiver) {
    let mut failures = 0u32;
    loop {
        let next = receiver.next().await;
        let (updates, users, chats) = match next {
            Ok(x) => {
                failures = 0;
                x
            }
            Err(e) => {
                // Usually the connection is down (getDifference failed): let the supervisor
                // heal it, wait until connected, and keep the same receiver (its state).
                debug!(account_id = acct.id, error = %e, "update stream interrupted");
                let _ = acct.ctl.try_send(Control::Trouble);
                failures += 1;
                let mut state = acct.subscribe_state();
                let _ = tokio::time::timeout(
                    Duration::from_millis(200 * failures.min(25) as u64),
                    state.wait_for(|s| *s == AccountState::Connected),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Peers first (grammers needs their access hashes for later gap filling).
        let infos: Vec<PeerInfo> = users
            .iter()
            .cloned()
            .map(PeerInfo::from)
            .chain(chats.iter().cloned().map(PeerInfo::from))
            .collect();
        if !infos.is_empty() {
            if let Err(e) = conn.session.cache_peers(infos).await {
                warn!(account_id = acct.id, error = %e, "peers not cached");
            }
        }
        // grammers writes user 0 for messages it built from `updateShortSentMessage` to
        // `inputPeerSelf`; translate puts our own id in its place.
        let self_id = match conn.session.peer(PeerId::self_user()).await {
            Ok(Some(PeerInfo::User { id, .. })) => Some(id),
            _ => None,
        };
        let (batch, states) = translate(acct.id, self_id, &updates, &users, &chats);
        // Durable before the next pull; retried until the store takes it.
        let mut delay = Duration::from_millis(100);
        loop {
            match acct.rt.writer.write_batch(batch.clone_batch()).await {
                Ok(_) => break,
                Err(e) if e.code == crate::ErrorCode::ShuttingDown => return,
                Err(e) => {
                    warn!(account_id = acct.id, error = %e, "update batch not written; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        for s in &states {
            conn.session.note_committed_state(s);
        }
    }
}

trait CloneBatch {
    fn clone_batch(&self) -> UpdateBatch;
}

impl CloneBatch for UpdateBatch {
    fn clone_batch(&self) -> UpdateBatch {
        UpdateBatch {
            account_id: self.account_id,
            events: self.events.clone(),
            chats: self.chats.clone(),
            messages: self.messages.clone(),
            deleted: self.deleted.clone(),
            peers: self.peers.clone(),
            state: self.state.iter().map(clone_state).collect(),
            chat_activity: self.chat_activity.clone(),
        }
    }
}

/// The store write for one batch of updates, and the update states it persists.
///
/// `self_id` is the account's own user id, when known: grammers turns an
/// `updateShortSentMessage` into a message whose peer is `inputPeerSelf` mapped to user 0 (it has
/// no self id at hand), so such messages are re-addressed to Saved Messages here.
pub(crate) fn translate(
    account_id: i64,
    self_id: Option<i64>,
    updates: &[(tl::enums::Update, State)],
    users: &[tl::enums::User],
    chats: &[tl::enums::Chat],
) -> (UpdateBatch, Vec<UpdateState>) {
    let mut batch = UpdateBatch {
        account_id,
        ..Default::default()
    };
    // Titles for the mirror.
    let mut titles: HashMap<i64, (String, Option<String>, Option<String>)> = HashMap::new();
    for u in users {
        if let Some(v) = convert::user_view(u) {
            let kind = if v.bot { "bot" } else { "user" };
            titles.insert(
                v.id,
                (
                    kind.into(),
                    convert::user_display_name(&v),
                    v.username.clone(),
                ),
            );
        }
    }
    for c in chats {
        titles.insert(
            chat_id(c),
            (chat_kind(c).into(), chat_title(c), chat_username(c)),
        );
    }
    let activity =
        |chat: i64, id: Option<i32>, date: Option<i64>, delta: i32, unread: Option<i32>| {
            let (kind, title, username) = titles
                .get(&chat)
                .cloned()
                .unwrap_or_else(|| (convert::kind_of_id(chat).into(), None, None));
            ChatActivity {
                peer_id: chat,
                kind,
                title,
                username,
                last_message_id: id,
                last_message_at: date,
                unread_delta: delta,
                unread_count: unread,
            }
        };

    let mut primary: Option<(i32, i32, i32)> = None;
    let mut qts: Option<i32> = None;
    let mut channels: HashMap<i64, i32> = HashMap::new();
    for (update, state) in updates {
        match state.message_box {
            Some(MessageBox::Common { pts }) if primary.is_none_or(|(p, _, _)| pts >= p) => {
                primary = Some((pts, state.date, state.seq));
            }
            Some(MessageBox::Common { .. }) => {}
            Some(MessageBox::Secondary { qts: q }) => qts = Some(qts.map_or(q, |o| o.max(q))),
            Some(MessageBox::Channel { channel_id, pts }) => {
                let e = channels.entry(channel_id).or_insert(pts);
                *e = (*e).max(pts);
            }
            None => {}
        }
        use tl::enums::Update as U;
        match update {
            U::NewMessage(tl::types::UpdateNewMessage { message, .. })
            | U::NewChannelMessage(tl::types::UpdateNewChannelMessage { message, .. }) => {
                let message = &*readdress_self(message, self_id);
                if let Some(v) = message_view(message) {
                    batch.chat_activity.push(activity(
                        v.chat_id,
                        Some(v.id),
                        Some(v.date * 1000),
                        i32::from(!v.outgoing),
                        None,
                    ));
                    batch.messages.push(mirror_message(&v));
                    batch.events.push(events::message_new(account_id, &v));
                    member_event(account_id, message, &mut batch);
                }
            }
            U::EditMessage(tl::types::UpdateEditMessage { message, .. })
            | U::EditChannelMessage(tl::types::UpdateEditChannelMessage { message, .. }) => {
                let message = &*readdress_self(message, self_id);
                if let Some(v) = message_view(message) {
                    batch.messages.push(mirror_message(&v));
                    batch.events.push(events::message_edited(account_id, &v));
                }
            }
            U::DeleteMessages(d) => {
                batch.deleted.push((None, d.messages.clone()));
                batch
                    .events
                    .push(events::message_deleted(account_id, None, &d.messages));
            }
            U::DeleteChannelMessages(d) => {
                let chat = -1_000_000_000_000 - d.channel_id;
                batch.deleted.push((Some(chat), d.messages.clone()));
                batch
                    .events
                    .push(events::message_deleted(account_id, Some(chat), &d.messages));
            }
            U::ReadHistoryInbox(r) => {
                let chat = convert::peer_id(&r.peer);
                batch
                    .chat_activity
                    .push(activity(chat, None, None, 0, Some(r.still_unread_count)));
                batch.events.push(events::chat_read(
                    account_id,
                    chat,
                    r.max_id,
                    true,
                    Some(r.still_unread_count),
                ));
            }
            U::ReadHistoryOutbox(r) => {
                let chat = convert::peer_id(&r.peer);
                batch
                    .events
                    .push(events::chat_read(account_id, chat, r.max_id, false, None));
            }
            U::ReadChannelInbox(r) => {
                let chat = -1_000_000_000_000 - r.channel_id;
                batch
                    .chat_activity
                    .push(activity(chat, None, None, 0, Some(r.still_unread_count)));
                batch.events.push(events::chat_read(
                    account_id,
                    chat,
                    r.max_id,
                    true,
                    Some(r.still_unread_count),
                ));
            }
            U::ReadChannelOutbox(r) => {
                let chat = -1_000_000_000_000 - r.channel_id;
                batch
                    .events
                    .push(events::chat_read(account_id, chat, r.max_id, false, None));
            }
            U::ChatParticipant(p) => {
                let joined = p.new_participant.is_some();
                let link = invite_link(p.invite.as_ref());
                batch.events.push(events::chat_member(
                    account_id,
                    -p.chat_id,
                    p.user_id,
                    joined,
                    link.as_deref(),
                    Some(p.actor_id),
                ));
            }
            U::ChannelParticipant(p) => {
                let joined = p.new_participant.is_some();
                let link = invite_link(p.invite.as_ref());
                let chat = -1_000_000_000_000 - p.channel_id;
                batch.events.push(events::chat_member(
                    account_id,
                    chat,
                    p.user_id,
                    joined,
                    link.as_deref(),
                    Some(p.actor_id),
                ));
            }
            _ => {}
        }
    }
    let mut states = Vec::new();
    if let Some((pts, date, seq)) = primary {
        states.push(UpdateState::Primary { pts, date, seq });
    }
    if let Some(q) = qts {
        states.push(UpdateState::Secondary { qts: q });
    }
    for (id, pts) in channels {
        states.push(UpdateState::Channel { id, pts });
    }
    batch.state = states.iter().map(clone_state).collect();
    (batch, states)
}

fn invite_link(invite: Option<&tl::enums::ExportedChatInvite>) -> Option<String> {
    match invite? {
        tl::enums::ExportedChatInvite::ChatInviteExported(i) => Some(i.link.clone()),
        tl::enums::ExportedChatInvite::ChatInvitePublicJoinRequests => None,
    }
}

/// Service messages that say someone joined or left become `chat.member` events too.
fn member_event(account_id: i64, message: &tl::enums::Message, batch: &mut UpdateBatch) {
    let tl::enums::Message::Service(s) = message else {
        return;
    };
    let chat = convert::peer_id(&s.peer_id);
    let actor = s.from_id.as_ref().map(convert::peer_id);
    match &s.action {
        tl::enums::MessageAction::ChatAddUser(a) => {
            for u in &a.users {
                batch
                    .events
                    .push(events::chat_member(account_id, chat, *u, true, None, actor));
            }
        }
        tl::enums::MessageAction::ChatJoinedByLink(_)
        | tl::enums::MessageAction::ChatJoinedByRequest => {
            if let Some(u) = actor {
                batch
                    .events
                    .push(events::chat_member(account_id, chat, u, true, None, None));
            }
        }
        tl::enums::MessageAction::ChatDeleteUser(d) => {
            batch.events.push(events::chat_member(
                account_id, chat, d.user_id, false, None, actor,
            ));
        }
        _ => {}
    }
}

/// The message with grammers' user-0 placeholder peer replaced by the account's own id (see
/// [`translate`]); borrowed unchanged in every other case.
fn readdress_self(
    message: &tl::enums::Message,
    self_id: Option<i64>,
) -> std::borrow::Cow<'_, tl::enums::Message> {
    use std::borrow::Cow;
    match (message, self_id) {
        (tl::enums::Message::Message(m), Some(me))
            if matches!(
                m.peer_id,
                tl::enums::Peer::User(tl::types::PeerUser { user_id: 0 })
            ) =>
        {
            let mut m = m.clone();
            m.peer_id = tl::enums::Peer::User(tl::types::PeerUser { user_id: me });
            Cow::Owned(tl::enums::Message::Message(m))
        }
        _ => Cow::Borrowed(message),
    }
}

/// grammers' `UpdateState` is not `Clone`.
pub(crate) fn clone_state(s: &UpdateState) -> UpdateState {
    match s {
        UpdateState::All(a) => UpdateState::All(a.clone()),
        UpdateState::Primary { pts, date, seq } => UpdateState::Primary {
            pts: *pts,
            date: *date,
            seq: *seq,
        },
        UpdateState::Secondary { qts } => UpdateState::Secondary { qts: *qts },
        UpdateState::Channel { id, pts } => UpdateState::Channel { id: *id, pts: *pts },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outgoing text message as grammers builds it from `updateShortSentMessage`.
    fn sent(peer: tl::enums::Peer, id: i32) -> tl::enums::Message {
        tl::enums::Message::Message(tl::types::Message {
            out: true,
            mentioned: false,
            media_unread: false,
            silent: false,
            post: false,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id,
            from_id: None,
            from_boosts_applied: None,
            from_rank: None,
            peer_id: peer,
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: None,
            date: 1_700_000_000,
            message: "note to self".into(),
            media: None,
            reply_markup: None,
            entities: None,
            views: None,
            forwards: None,
            replies: None,
            edit_date: None,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        })
    }

    fn new_message(message: tl::enums::Message, pts: i32) -> (tl::enums::Update, State) {
        (
            tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
                message,
                pts,
                pts_count: 1,
            }),
            State {
                date: 1_700_000_000,
                seq: 0,
                message_box: Some(MessageBox::Common { pts }),
            },
        )
    }

    #[test]
    fn saved_messages_sent_through_input_peer_self_land_in_the_own_chat() {
        let me = 777_000;
        let user = |user_id| tl::enums::Peer::User(tl::types::PeerUser { user_id });
        let updates = [
            new_message(sent(user(0), 10), 5),
            new_message(sent(user(42), 11), 6),
        ];
        let (batch, states) = translate(1, Some(me), &updates, &[], &[]);
        let chats: Vec<i64> = batch.messages.iter().map(|m| m.peer_id).collect();
        assert_eq!(chats, [me, 42]);
        let activity: Vec<i64> = batch.chat_activity.iter().map(|a| a.peer_id).collect();
        assert_eq!(activity, [me, 42]);
        assert_eq!(batch.events.len(), 2);
        assert!(!states.is_empty());

        // Without a known self id the placeholder stays a number and nothing panics.
        let (batch, _) = translate(1, None, &updates[..1], &[], &[]);
        assert_eq!(batch.messages[0].peer_id, 0);
    }
}
