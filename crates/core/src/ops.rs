//! [`AccountHandle`]: every operation the API layer calls on one account (issue 6 item 8).
//!
//! All go through the account's call path (queue, rate limits, flood waits, reconnects,
//! migrations, error mapping). Operations that create something on Telegram take
//! [`CallOptions::idempotency_key`]; sends and forwards derive Telegram's `random_id` from it.

use std::sync::Arc;

use grammers_session::types::{PeerId, PeerInfo, PeerRef as GPeerRef};
use grammers_session::Session as _;
use grammers_tl_types as tl;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use telegate_store::{AccountState, ChatCursor};

use crate::account::{Account, CallCtx};
use crate::convert::{self, message_view};
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::idempotency::{self, Begin};
use crate::login;
use crate::types::*;

/// The operations of one account. Cheap to clone.
#[derive(Clone)]
pub struct AccountHandle {
    pub(crate) acct: Arc<Account>,
}

impl std::fmt::Debug for AccountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountHandle")
            .field("id", &self.acct.id)
            .finish()
    }
}

/// A resolved peer: what Telegram wants, and its Bot API id.
pub(crate) struct Resolved {
    pub(crate) input: tl::enums::InputPeer,
    pub(crate) id: i64,
}

fn not_found(p: &PeerRef) -> CoreError {
    CoreError::new(
        ErrorCode::PeerNotFound,
        format!(
            "peer {p} is unknown to this account (resolve its @username or list dialogs first)"
        ),
    )
}

pub(crate) fn channel_of(input: &tl::enums::InputPeer) -> Option<tl::enums::InputChannel> {
    match input {
        tl::enums::InputPeer::Channel(c) => {
            Some(tl::enums::InputChannel::Channel(tl::types::InputChannel {
                channel_id: c.channel_id,
                access_hash: c.access_hash,
            }))
        }
        _ => None,
    }
}

fn user_of(input: &tl::enums::InputPeer) -> CoreResult<tl::enums::InputUser> {
    Ok(match input {
        tl::enums::InputPeer::User(u) => tl::enums::InputUser::User(tl::types::InputUser {
            user_id: u.user_id,
            access_hash: u.access_hash,
        }),
        tl::enums::InputPeer::PeerSelf => tl::enums::InputUser::UserSelf,
        _ => return Err(CoreError::new(ErrorCode::PeerInvalid, "expected a user")),
    })
}

fn basic_chat_of(input: &tl::enums::InputPeer) -> Option<i64> {
    match input {
        tl::enums::InputPeer::Chat(c) => Some(c.chat_id),
        _ => None,
    }
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn from_json<T: DeserializeOwned>(v: serde_json::Value) -> CoreResult<T> {
    serde_json::from_value(v)
        .map_err(|e| CoreError::internal(format!("recorded outcome unreadable: {e}")))
}

impl AccountHandle {
    pub(crate) fn new(acct: Arc<Account>) -> Self {
        Self { acct }
    }

    pub fn id(&self) -> i64 {
        self.acct.id
    }

    pub fn state(&self) -> AccountState {
        self.acct.state()
    }

    pub fn health(&self) -> Health {
        self.acct.health()
    }

    /// Waits until the account reaches `state` (or the timeout passes); returns the state then.
    pub async fn wait_for_state(
        &self,
        state: AccountState,
        timeout: std::time::Duration,
    ) -> AccountState {
        let mut rx = self.acct.subscribe_state();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|s| *s == state)).await;
        self.acct.state()
    }

    // ---- login -------------------------------------------------------------------------

    /// The step a half-finished login is at (after a restart too).
    pub async fn login_step(&self) -> CoreResult<Option<LoginStep>> {
        login::current_step(&self.acct).await
    }

    /// Starts a (new) phone login: sends the code.
    pub async fn login_start(&self) -> CoreResult<LoginStep> {
        let phone = self
            .acct
            .rt
            .store
            .account(self.acct.id)
            .await?
            .and_then(|a| a.phone)
            .ok_or_else(|| {
                CoreError::new(
                    ErrorCode::NotAllowedForAccountKind,
                    "only phone accounts log in with a code",
                )
            })?;
        login::send_code(&self.acct, &phone).await
    }

    pub async fn login_code(&self, code: &str) -> CoreResult<LoginStep> {
        login::submit_code(&self.acct, code).await
    }

    /// The 2FA password (never stored, never logged).
    pub async fn login_password(&self, password: &SecretString) -> CoreResult<LoginStep> {
        login::submit_password(&self.acct, password).await
    }

    /// Starts or continues a QR login: the current token URL.
    pub async fn login_qr(&self) -> CoreResult<LoginStep> {
        login::start_qr(&self.acct).await
    }

    // ---- lifecycle ---------------------------------------------------------------------

    /// Operator stop (disconnects; `reconnect` revives).
    pub async fn stop(&self) {
        let _ = self.acct.ctl.send(crate::account::Control::Stop).await;
    }

    /// Connect again (after `stopped` or `failed`).
    pub async fn reconnect(&self) -> CoreResult<()> {
        match self.acct.state() {
            AccountState::Stopped
            | AccountState::Failed
            | AccountState::Connected
            | AccountState::Reconnecting
            | AccountState::Connecting => {
                let _ = self.acct.ctl.send(crate::account::Control::Connect).await;
                Ok(())
            }
            s => Err(CoreError::new(
                ErrorCode::LoginRequired,
                format!("the account is {}: log in first", s.as_str()),
            )),
        }
    }

    /// `auth.logOut`: the session ends on Telegram; the account needs a new login.
    pub async fn log_out(&self) -> CoreResult<()> {
        self.log_out_telegram().await?;
        let _ = self
            .acct
            .rt
            .store
            .revoke_session(self.acct.id, "logged out", "api")
            .await;
        crate::gateway::audit(
            &self.acct.rt,
            self.acct.id,
            telegate_store::AuditAction::Logout,
            "api",
        )
        .await;
        self.stop_quietly().await;
        self.acct
            .transition(AccountState::LoginRequired, Some("logged out"))
            .await;
        Ok(())
    }

    async fn stop_quietly(&self) {
        if let Some(c) = self.acct.current_conn() {
            c.fat.thin.quit();
        }
    }

    pub(crate) async fn log_out_telegram(&self) -> CoreResult<()> {
        self.acct
            .invoke(&tl::functions::auth::LogOut {}, CallCtx::write())
            .await
            .map(drop)
    }

    // ---- peers -------------------------------------------------------------------------

    pub(crate) async fn resolve(&self, p: &PeerRef) -> CoreResult<Resolved> {
        let conn = match self.acct.current_conn() {
            Some(c) => c,
            None => return Err(crate::account::state_error(self.acct.state())),
        };
        match p {
            PeerRef::Me => {
                let me = conn
                    .session
                    .peer(PeerId::self_user())
                    .await
                    .map_err(CoreError::from)?;
                let id = me
                    .map(|m| m.id().bot_api_dialog_id_unchecked())
                    .unwrap_or(0);
                Ok(Resolved {
                    input: tl::enums::InputPeer::PeerSelf,
                    id,
                })
            }
            PeerRef::Id(id) => {
                let pid = PeerId::from_bot_api_dialog_id(*id).ok_or_else(|| not_found(p))?;
                let info = conn
                    .session
                    .peer(pid)
                    .await
                    .map_err(CoreError::from)?
                    .ok_or_else(|| not_found(p))?;
                if matches!(
                    info,
                    PeerInfo::User {
                        is_self: Some(true),
                        ..
                    }
                ) {
                    return Ok(Resolved {
                        input: tl::enums::InputPeer::PeerSelf,
                        id: *id,
                    });
                }
                let auth = info.auth().ok_or_else(|| not_found(p))?;
                Ok(Resolved {
                    input: (&GPeerRef { id: pid, auth }).into(),
                    id: *id,
                })
            }
            PeerRef::Username(name) => {
                let r = self.resolve_username(name).await?;
                let pid = PeerId::from_bot_api_dialog_id(r.id).ok_or_else(|| not_found(p))?;
                let info = conn
                    .session
                    .peer(pid)
                    .await
                    .map_err(CoreError::from)?
                    .ok_or_else(|| not_found(p))?;
                let auth = info.auth().ok_or_else(|| not_found(p))?;
                Ok(Resolved {
                    input: (&GPeerRef { id: pid, auth }).into(),
                    id: r.id,
                })
            }
        }
    }

    pub(crate) async fn cache(&self, users: &[tl::enums::User], chats: &[tl::enums::Chat]) {
        if let Some(conn) = self.acct.current_conn() {
            let infos: Vec<PeerInfo> = users
                .iter()
                .cloned()
                .map(PeerInfo::from)
                .chain(chats.iter().cloned().map(PeerInfo::from))
                .collect();
            if !infos.is_empty() {
                let _ = conn.session.cache_peers(infos).await;
            }
        }
    }

    /// `contacts.resolveUsername`: the chat or user behind `@name` (cached for later calls).
    pub async fn resolve_username(&self, name: &str) -> CoreResult<ChatView> {
        let name = name.trim_start_matches('@');
        let tl::enums::contacts::ResolvedPeer::Peer(r) = self
            .acct
            .invoke(
                &tl::functions::contacts::ResolveUsername {
                    username: name.to_owned(),
                    referer: None,
                },
                CallCtx::read(),
            )
            .await?;
        self.cache(&r.users, &r.chats).await;
        let id = convert::peer_id(&r.peer);
        let user = r
            .users
            .iter()
            .filter_map(convert::user_view)
            .find(|u| u.id == id);
        let chat = r.chats.iter().find(|c| convert::chat_id(c) == id);
        Ok(ChatView {
            id,
            kind: match (&user, chat) {
                (Some(u), _) if u.bot => "bot".into(),
                (Some(_), _) => "user".into(),
                (None, Some(c)) => convert::chat_kind(c).into(),
                _ => convert::kind_of_id(id).into(),
            },
            title: user
                .as_ref()
                .and_then(convert::user_display_name)
                .or_else(|| chat.and_then(convert::chat_title)),
            username: Some(name.to_ascii_lowercase()),
            unread_count: 0,
            last_message_id: None,
            last_message_at: None,
            pinned: false,
            archived: false,
        })
    }

    // ---- messages ----------------------------------------------------------------------

    /// Runs `act` once per idempotency key (or every time without one).
    pub(crate) async fn once<T, F, Fut>(
        &self,
        op: &str,
        request: &impl Serialize,
        opts: &CallOptions,
        act: F,
    ) -> CoreResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = CoreResult<T>>,
    {
        let Some(key) = &opts.idempotency_key else {
            return act().await;
        };
        let fp = idempotency::fingerprint(op, request);
        match self
            .acct
            .rt
            .idempotency
            .begin(self.acct.id, key, &fp)
            .await?
        {
            Begin::Done(v) => from_json(v),
            Begin::Fresh(guard) => {
                let out = act().await?;
                guard.complete(to_json(&out)).await?;
                Ok(out)
            }
        }
    }

    pub(crate) fn random_id(&self, opts: &CallOptions, salt: usize) -> i64 {
        match &opts.idempotency_key {
            Some(k) if salt == 0 => idempotency::random_id(self.acct.id, k),
            Some(k) => idempotency::random_id(self.acct.id, &format!("{k}\0{salt}")),
            None => rand::random(),
        }
    }

    /// Sends a text message (Markdown/HTML/explicit entities, reply, silent). With an
    /// idempotency key it is posted exactly once, whatever the retries.
    pub async fn send_message(
        &self,
        peer: &PeerRef,
        req: &SendMessage,
        opts: &CallOptions,
    ) -> CoreResult<MessageView> {
        let (text, entities) =
            convert::formatted(&req.text, req.parse_mode, req.entities.as_deref())?;
        if text.trim().is_empty() {
            return Err(CoreError::new(
                ErrorCode::MessageEmpty,
                "text: the message is empty",
            ));
        }
        if convert::utf16_len(&text) > 4096 {
            return Err(CoreError::new(
                ErrorCode::MessageTooLong,
                "text: at most 4096 characters",
            ));
        }
        let keyed = (peer.to_string(), req);
        self.once("send_message", &keyed, opts, || async {
            let target = self.resolve(peer).await?;
            let random_id = self.random_id(opts, 0);
            let call = tl::functions::messages::SendMessage {
                no_webpage: req.no_webpage,
                silent: req.silent,
                background: false,
                clear_draft: false,
                noforwards: false,
                update_stickersets_order: false,
                invert_media: false,
                allow_paid_floodskip: false,
                peer: target.input.clone(),
                reply_to: req.reply_to.map(|id| {
                    tl::enums::InputReplyTo::Message(tl::types::InputReplyToMessage {
                        reply_to_msg_id: id,
                        top_msg_id: None,
                        reply_to_peer_id: None,
                        quote_text: None,
                        quote_entities: None,
                        quote_offset: None,
                        monoforum_peer_id: None,
                        todo_item_id: None,
                        poll_option: None,
                    })
                }),
                message: text.clone(),
                random_id,
                reply_markup: None,
                entities: (!entities.is_empty()).then(|| entities.clone()),
                schedule_date: None,
                schedule_repeat_period: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                allow_paid_stars: None,
                suggested_post: None,
                rich_message: None,
            };
            let ctx = CallCtx {
                fail_fast: opts.fail_fast,
                retry_safe: true, // the random_id makes a repeat harmless
                chat: Some(target.id),
                login: false,
            };
            let updates = self.acct.invoke(&call, ctx).await?;
            let me = self.self_id().await;
            self.sent_message(updates, random_id, target.id, me, &text, &entities, req)
        })
        .await
    }

    pub(crate) async fn self_id(&self) -> Option<i64> {
        let conn = self.acct.current_conn()?;
        conn.session
            .peer(PeerId::self_user())
            .await
            .ok()
            .flatten()
            .map(|p| p.id().bot_api_dialog_id_unchecked())
    }

    #[allow(clippy::too_many_arguments)]
    fn sent_message(
        &self,
        updates: tl::enums::Updates,
        random_id: i64,
        chat_id: i64,
        me: Option<i64>,
        text: &str,
        entities: &[tl::enums::MessageEntity],
        req: &SendMessage,
    ) -> CoreResult<MessageView> {
        match updates {
            tl::enums::Updates::UpdateShortSentMessage(u) => Ok(MessageView {
                id: u.id,
                chat_id,
                sender_id: me,
                date: u.date as i64,
                text: text.to_owned(),
                entities: u
                    .entities
                    .as_deref()
                    .unwrap_or(entities)
                    .iter()
                    .map(convert::entity_view)
                    .collect(),
                reply_to: req.reply_to,
                outgoing: true,
                silent: req.silent,
                edit_date: None,
                media: u
                    .media
                    .as_ref()
                    .and_then(|m| convert::media_view(m, chat_id, u.id)),
                forwarded_from: None,
                action: None,
                deleted: false,
            }),
            other => {
                let (list, id) = updates_messages(other, Some(random_id));
                list.into_iter()
                    .find(|m| id.is_none_or(|id| m.id == id))
                    .ok_or_else(|| {
                        CoreError::new(
                            ErrorCode::TelegramError,
                            "Telegram's answer did not contain the sent message",
                        )
                    })
            }
        }
    }

    /// Edits a message's text.
    pub async fn edit_message(
        &self,
        peer: &PeerRef,
        id: i32,
        req: &EditMessage,
        opts: &CallOptions,
    ) -> CoreResult<MessageView> {
        let (text, entities) =
            convert::formatted(&req.text, req.parse_mode, req.entities.as_deref())?;
        let target = self.resolve(peer).await?;
        let call = tl::functions::messages::EditMessage {
            no_webpage: false,
            invert_media: false,
            peer: target.input,
            id,
            message: Some(text),
            media: None,
            reply_markup: None,
            entities: Some(entities),
            schedule_date: None,
            schedule_repeat_period: None,
            quick_reply_shortcut_id: None,
            rich_message: None,
        };
        let ctx = CallCtx {
            fail_fast: opts.fail_fast,
            retry_safe: true, // the same edit twice is the same edit
            ..CallCtx::default()
        };
        let updates = self.acct.invoke(&call, ctx).await?;
        let (list, _) = updates_messages(updates, None);
        list.into_iter().find(|m| m.id == id).ok_or_else(|| {
            CoreError::new(
                ErrorCode::TelegramError,
                "Telegram's answer did not contain the edited message",
            )
        })
    }

    /// Deletes messages (for everyone when `revoke`).
    pub async fn delete_messages(
        &self,
        peer: &PeerRef,
        ids: &[i32],
        revoke: bool,
    ) -> CoreResult<()> {
        if ids.is_empty() || ids.len() > 100 {
            return Err(CoreError::invalid("message_ids: 1 to 100 ids"));
        }
        let target = self.resolve(peer).await?;
        let ctx = CallCtx::read();
        match channel_of(&target.input) {
            Some(channel) => self
                .acct
                .invoke(
                    &tl::functions::channels::DeleteMessages {
                        channel,
                        id: ids.to_vec(),
                    },
                    ctx,
                )
                .await
                .map(drop),
            None => self
                .acct
                .invoke(
                    &tl::functions::messages::DeleteMessages {
                        revoke,
                        id: ids.to_vec(),
                    },
                    ctx,
                )
                .await
                .map(drop),
        }
    }

    /// Forwards messages from `from` to `to`.
    pub async fn forward_messages(
        &self,
        from: &PeerRef,
        ids: &[i32],
        to: &PeerRef,
        silent: bool,
        opts: &CallOptions,
    ) -> CoreResult<Vec<MessageView>> {
        if ids.is_empty() || ids.len() > 100 {
            return Err(CoreError::invalid("message_ids: 1 to 100 ids"));
        }
        let keyed = (from.to_string(), ids, to.to_string(), silent);
        self.once("forward_messages", &keyed, opts, || async {
            let src = self.resolve(from).await?;
            let dst = self.resolve(to).await?;
            let random_ids: Vec<i64> = (0..ids.len())
                .map(|i| self.random_id(opts, i + 1))
                .collect();
            let call = tl::functions::messages::ForwardMessages {
                silent,
                background: false,
                with_my_score: false,
                drop_author: false,
                drop_media_captions: false,
                noforwards: false,
                allow_paid_floodskip: false,
                from_ephemeral: false,
                from_peer: src.input,
                id: ids.to_vec(),
                random_id: random_ids,
                to_peer: dst.input,
                top_msg_id: None,
                reply_to: None,
                schedule_date: None,
                schedule_repeat_period: None,
                send_as: None,
                quick_reply_shortcut: None,
                effect: None,
                video_timestamp: None,
                allow_paid_stars: None,
                suggested_post: None,
            };
            let ctx = CallCtx {
                fail_fast: opts.fail_fast,
                retry_safe: true,
                chat: Some(dst.id),
                login: false,
            };
            let updates = self.acct.invoke(&call, ctx).await?;
            Ok(updates_messages(updates, None).0)
        })
        .await
    }

    /// Marks the chat read up to `max_id` (0: everything).
    pub async fn read_history(&self, peer: &PeerRef, max_id: i32) -> CoreResult<()> {
        let target = self.resolve(peer).await?;
        match channel_of(&target.input) {
            Some(channel) => self
                .acct
                .invoke(
                    &tl::functions::channels::ReadHistory { channel, max_id },
                    CallCtx::read(),
                )
                .await
                .map(drop),
            None => self
                .acct
                .invoke(
                    &tl::functions::messages::ReadHistory {
                        peer: target.input,
                        max_id,
                    },
                    CallCtx::read(),
                )
                .await
                .map(drop),
        }
    }

    /// History, newest first: live from Telegram or from the mirror.
    pub async fn history(&self, peer: &PeerRef, q: &HistoryQuery) -> CoreResult<Vec<MessageView>> {
        let limit = q.limit.unwrap_or(50).clamp(1, 100);
        match q.source {
            HistorySource::Mirror => {
                let id = match peer {
                    PeerRef::Id(id) => *id,
                    _ => self.resolve(peer).await?.id,
                };
                let rows = self
                    .acct
                    .rt
                    .store
                    .messages(self.acct.id, id, q.before_id, limit)
                    .await?;
                Ok(rows.iter().map(convert::view_from_mirror).collect())
            }
            HistorySource::Live => {
                let target = self.resolve(peer).await?;
                let call = tl::functions::messages::GetHistory {
                    peer: target.input,
                    offset_id: q.before_id.unwrap_or(0),
                    offset_date: 0,
                    add_offset: 0,
                    limit: limit as i32,
                    max_id: 0,
                    min_id: 0,
                    hash: 0,
                };
                let r = self.acct.invoke(&call, CallCtx::read()).await?;
                Ok(self.messages_of(r).await)
            }
        }
    }

    async fn messages_of(&self, r: tl::enums::messages::Messages) -> Vec<MessageView> {
        use tl::enums::messages::Messages as M;
        let (messages, users, chats) = match r {
            M::Messages(m) => (m.messages, m.users, m.chats),
            M::Slice(m) => (m.messages, m.users, m.chats),
            M::ChannelMessages(m) => (m.messages, m.users, m.chats),
            M::NotModified(_) => (Vec::new(), Vec::new(), Vec::new()),
        };
        self.cache(&users, &chats).await;
        messages.iter().filter_map(message_view).collect()
    }

    /// Text search in one chat (`messages.search`), newest first.
    pub async fn search(&self, peer: &PeerRef, q: &SearchQuery) -> CoreResult<Vec<MessageView>> {
        let target = self.resolve(peer).await?;
        let call = tl::functions::messages::Search {
            peer: target.input,
            q: q.query.clone(),
            from_id: None,
            saved_peer_id: None,
            saved_reaction: None,
            top_msg_id: None,
            filter: tl::enums::MessagesFilter::InputMessagesFilterEmpty,
            min_date: 0,
            max_date: 0,
            offset_id: q.before_id.unwrap_or(0),
            add_offset: 0,
            limit: q.limit.unwrap_or(50).clamp(1, 100) as i32,
            max_id: 0,
            min_id: 0,
            hash: 0,
        };
        let r = self.acct.invoke(&call, CallCtx::read()).await?;
        Ok(self.messages_of(r).await)
    }

    // ---- chats ---------------------------------------------------------------------------

    /// Chats from the mirror, most recent first, cursor-paged (`after` = previous `next`).
    pub async fn chats(&self, after: Option<&str>, limit: u32) -> CoreResult<ChatPage> {
        let cursor = match after {
            None => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        let limit = limit.clamp(1, 200);
        let rows = self
            .acct
            .rt
            .store
            .chats_page(self.acct.id, cursor, limit)
            .await?;
        let next = (rows.len() as u32 == limit)
            .then(|| {
                rows.last()
                    .map(|c| encode_cursor(c.last_message_at, c.peer_id))
            })
            .flatten();
        Ok(ChatPage {
            chats: rows.into_iter().map(mirror_chat_view).collect(),
            next,
        })
    }

    /// One chat: the mirror's row when there is one, else what resolving the peer tells
    /// (`@username` asks Telegram; ids must be known to the account's peer cache).
    pub async fn chat(&self, peer: &PeerRef) -> CoreResult<ChatView> {
        if let PeerRef::Username(name) = peer {
            let view = self.resolve_username(name).await?;
            return Ok(
                match self.acct.rt.store.chat(self.acct.id, view.id).await? {
                    Some(c) => mirror_chat_view(c),
                    None => view,
                },
            );
        }
        let target = self.resolve(peer).await?;
        if let Some(c) = self.acct.rt.store.chat(self.acct.id, target.id).await? {
            return Ok(mirror_chat_view(c));
        }
        Ok(ChatView {
            id: target.id,
            kind: convert::kind_of_id(target.id).into(),
            title: None,
            username: None,
            unread_count: 0,
            last_message_id: None,
            last_message_at: None,
            pinned: false,
            archived: false,
        })
    }

    /// Dialogs live from Telegram (`messages.getDialogs`, first `limit`); refreshes the mirror
    /// and the peer cache (after an import, this is what makes peers addressable again).
    pub async fn sync_dialogs(&self, limit: u32) -> CoreResult<Vec<ChatView>> {
        let call = tl::functions::messages::GetDialogs {
            exclude_pinned: false,
            folder_id: None,
            offset_date: 0,
            offset_id: 0,
            offset_peer: tl::enums::InputPeer::Empty,
            limit: limit.clamp(1, 100) as i32,
            hash: 0,
        };
        let r = self.acct.invoke(&call, CallCtx::read()).await?;
        use tl::enums::messages::Dialogs as D;
        let (dialogs, messages, chats, users) = match r {
            D::Dialogs(d) => (d.dialogs, d.messages, d.chats, d.users),
            D::Slice(d) => (d.dialogs, d.messages, d.chats, d.users),
            D::NotModified(_) => return Ok(Vec::new()),
        };
        self.cache(&users, &chats).await;
        let msgs: Vec<MessageView> = messages.iter().filter_map(message_view).collect();
        let mut out = Vec::new();
        for d in dialogs {
            let tl::enums::Dialog::Dialog(d) = d else {
                continue;
            };
            let id = convert::peer_id(&d.peer);
            let last = msgs
                .iter()
                .find(|m| m.chat_id == id && m.id == d.top_message);
            let user = users
                .iter()
                .filter_map(convert::user_view)
                .find(|u| u.id == id);
            let chat = chats.iter().find(|c| convert::chat_id(c) == id);
            out.push(ChatView {
                id,
                kind: match (&user, chat) {
                    (Some(u), _) if u.bot => "bot".into(),
                    (Some(_), _) => "user".into(),
                    (None, Some(c)) => convert::chat_kind(c).into(),
                    _ => convert::kind_of_id(id).into(),
                },
                title: user
                    .as_ref()
                    .and_then(convert::user_display_name)
                    .or_else(|| chat.and_then(convert::chat_title)),
                username: user
                    .as_ref()
                    .and_then(|u| u.username.clone())
                    .or_else(|| chat.and_then(convert::chat_username)),
                unread_count: d.unread_count,
                last_message_id: Some(d.top_message),
                last_message_at: last.map(|m| m.date * 1000),
                pinned: d.pinned,
                archived: d.folder_id == Some(1),
            });
        }
        let rows: Vec<telegate_store::Chat> = out
            .iter()
            .map(|c| telegate_store::Chat {
                peer_id: c.id,
                kind: c.kind.clone(),
                title: c.title.clone(),
                username: c.username.clone(),
                unread_count: c.unread_count,
                last_message_id: c.last_message_id,
                last_message_at: c.last_message_at,
                pinned: c.pinned,
                archived: c.archived,
            })
            .collect();
        self.acct.rt.store.upsert_chats(self.acct.id, &rows).await?;
        let mirror: Vec<telegate_store::Message> =
            msgs.iter().map(convert::mirror_message).collect();
        self.acct
            .rt
            .store
            .upsert_messages(self.acct.id, &mirror)
            .await?;
        Ok(out)
    }

    /// Creates a basic group, a supergroup or a channel.
    pub async fn create_chat(&self, req: &CreateChat, opts: &CallOptions) -> CoreResult<ChatView> {
        if req.title.trim().is_empty() {
            return Err(CoreError::new(ErrorCode::ChatTitleInvalid, "title: empty"));
        }
        self.once("create_chat", req, opts, || async {
            let updates = match req.kind.as_str() {
                "group" => {
                    let mut users = Vec::new();
                    for m in &req.members {
                        users.push(user_of(&self.resolve(m).await?.input)?);
                    }
                    let tl::enums::messages::InvitedUsers::Users(r) = self
                        .acct
                        .invoke(
                            &tl::functions::messages::CreateChat {
                                users,
                                title: req.title.clone(),
                                ttl_period: None,
                            },
                            CallCtx::write(),
                        )
                        .await?;
                    r.updates
                }
                "supergroup" | "channel" => {
                    self.acct
                        .invoke(
                            &tl::functions::channels::CreateChannel {
                                broadcast: req.kind == "channel",
                                megagroup: req.kind == "supergroup",
                                for_import: false,
                                forum: false,
                                title: req.title.clone(),
                                about: req.about.clone().unwrap_or_default(),
                                geo_point: None,
                                address: None,
                                ttl_period: None,
                            },
                            CallCtx::write(),
                        )
                        .await?
                }
                other => {
                    return Err(CoreError::invalid(format!(
                        "kind {other:?}: expected group, supergroup or channel"
                    )))
                }
            };
            let chats = updates_chats(&updates);
            self.cache(&[], &chats).await;
            let chat = chats.first().ok_or_else(|| {
                CoreError::new(
                    ErrorCode::TelegramError,
                    "Telegram's answer did not contain the new chat",
                )
            })?;
            let view = ChatView {
                id: convert::chat_id(chat),
                kind: convert::chat_kind(chat).into(),
                title: convert::chat_title(chat),
                username: None,
                unread_count: 0,
                last_message_id: None,
                last_message_at: None,
                pinned: false,
                archived: false,
            };
            if req.kind != "group" && !req.members.is_empty() {
                let me = PeerRef::Id(view.id);
                for m in &req.members {
                    self.add_member(&me, m).await?;
                }
            }
            Ok(view)
        })
        .await
    }

    /// Joins a group or channel through an invite link (`https://t.me/+HASH`,
    /// `t.me/joinchat/HASH` or the bare hash): `messages.importChatInvite`.
    pub async fn join_by_link(&self, link: &str) -> CoreResult<ChatView> {
        let hash = invite_hash(link).ok_or_else(|| {
            CoreError::new(
                ErrorCode::InviteHashInvalid,
                format!("link {link:?}: expected https://t.me/+HASH or the hash"),
            )
        })?;
        let updates = match self
            .acct
            .invoke(
                &tl::functions::messages::ImportChatInvite { hash },
                CallCtx::write(),
            )
            .await?
        {
            tl::enums::messages::ChatInviteJoinResult::Ok(r) => r.updates,
            tl::enums::messages::ChatInviteJoinResult::WebView(_) => {
                return Err(CoreError::new(
                    ErrorCode::NotAllowedForAccountKind,
                    "this link asks to be opened in Telegram's web view (a paid or gated chat)",
                ))
            }
        };
        let chats = updates_chats(&updates);
        self.cache(&[], &chats).await;
        let chat = chats.first().ok_or_else(|| {
            CoreError::new(
                ErrorCode::TelegramError,
                "Telegram's answer did not contain the joined chat",
            )
        })?;
        Ok(ChatView {
            id: convert::chat_id(chat),
            kind: convert::chat_kind(chat).into(),
            title: convert::chat_title(chat),
            username: None,
            unread_count: 0,
            last_message_id: None,
            last_message_at: None,
            pinned: false,
            archived: false,
        })
    }

    /// Adds (invites) a user to a group or channel.
    pub async fn add_member(&self, chat: &PeerRef, user: &PeerRef) -> CoreResult<()> {
        let c = self.resolve(chat).await?;
        let u = user_of(&self.resolve(user).await?.input)?;
        if let Some(chat_id) = basic_chat_of(&c.input) {
            self.acct
                .invoke(
                    &tl::functions::messages::AddChatUser {
                        chat_id,
                        user_id: u,
                        fwd_limit: 100,
                    },
                    CallCtx::write(),
                )
                .await
                .map(drop)
        } else {
            let channel = channel_of(&c.input)
                .ok_or_else(|| CoreError::new(ErrorCode::PeerInvalid, "not a group or channel"))?;
            self.acct
                .invoke(
                    &tl::functions::channels::InviteToChannel {
                        channel,
                        users: vec![u],
                    },
                    CallCtx::write(),
                )
                .await
                .map(drop)
        }
    }

    /// Removes a member; `ban` keeps them out (channels/supergroups).
    pub async fn remove_member(&self, chat: &PeerRef, user: &PeerRef, ban: bool) -> CoreResult<()> {
        let c = self.resolve(chat).await?;
        let target = self.resolve(user).await?;
        if let Some(chat_id) = basic_chat_of(&c.input) {
            return self
                .acct
                .invoke(
                    &tl::functions::messages::DeleteChatUser {
                        revoke_history: false,
                        chat_id,
                        user_id: user_of(&target.input)?,
                    },
                    CallCtx::write(),
                )
                .await
                .map(drop);
        }
        let channel = channel_of(&c.input)
            .ok_or_else(|| CoreError::new(ErrorCode::PeerInvalid, "not a group or channel"))?;
        let rights = |view: bool| tl::types::ChatBannedRights {
            view_messages: view,
            send_messages: view,
            send_media: view,
            send_stickers: view,
            send_gifs: view,
            send_games: view,
            send_inline: view,
            embed_links: view,
            send_polls: view,
            change_info: view,
            invite_users: view,
            pin_messages: view,
            manage_topics: view,
            send_photos: view,
            send_videos: view,
            send_roundvideos: view,
            send_audios: view,
            send_voices: view,
            send_docs: view,
            send_plain: view,
            edit_rank: view,
            send_reactions: view,
            manage_linked_peers: view,
            until_date: 0,
        };
        self.acct
            .invoke(
                &tl::functions::channels::EditBanned {
                    channel: channel.clone(),
                    participant: target.input.clone(),
                    banned_rights: rights(true).into(),
                },
                CallCtx::write(),
            )
            .await?;
        if !ban {
            // Kick = ban then unban.
            self.acct
                .invoke(
                    &tl::functions::channels::EditBanned {
                        channel,
                        participant: target.input,
                        banned_rights: rights(false).into(),
                    },
                    CallCtx::write(),
                )
                .await?;
        }
        Ok(())
    }

    /// Makes a member an admin with `rights` (basic groups: admin or not).
    pub async fn promote_member(
        &self,
        chat: &PeerRef,
        user: &PeerRef,
        rights: &AdminRights,
        rank: Option<String>,
    ) -> CoreResult<()> {
        let c = self.resolve(chat).await?;
        let u = user_of(&self.resolve(user).await?.input)?;
        if let Some(chat_id) = basic_chat_of(&c.input) {
            return self
                .acct
                .invoke(
                    &tl::functions::messages::EditChatAdmin {
                        chat_id,
                        user_id: u,
                        is_admin: true,
                    },
                    CallCtx::write(),
                )
                .await
                .map(drop);
        }
        let channel = channel_of(&c.input)
            .ok_or_else(|| CoreError::new(ErrorCode::PeerInvalid, "not a group or channel"))?;
        let r = tl::types::ChatAdminRights {
            change_info: rights.change_info,
            post_messages: rights.post_messages,
            edit_messages: rights.edit_messages,
            delete_messages: rights.delete_messages,
            ban_users: rights.ban_users,
            invite_users: rights.invite_users,
            pin_messages: rights.pin_messages,
            add_admins: rights.add_admins,
            anonymous: false,
            manage_call: rights.manage_call,
            other: true,
            manage_topics: false,
            post_stories: false,
            edit_stories: false,
            delete_stories: false,
            manage_direct_messages: false,
            manage_ranks: false,
            manage_linked_peers: false,
            manage_welcome_messages: false,
        };
        self.acct
            .invoke(
                &tl::functions::channels::EditAdmin {
                    channel,
                    user_id: u,
                    admin_rights: r.into(),
                    rank,
                },
                CallCtx::write(),
            )
            .await
            .map(drop)
    }

    pub async fn set_title(&self, chat: &PeerRef, title: &str) -> CoreResult<()> {
        if title.trim().is_empty() {
            return Err(CoreError::new(ErrorCode::ChatTitleInvalid, "title: empty"));
        }
        let c = self.resolve(chat).await?;
        if let Some(chat_id) = basic_chat_of(&c.input) {
            return self
                .acct
                .invoke(
                    &tl::functions::messages::EditChatTitle {
                        chat_id,
                        title: title.to_owned(),
                    },
                    CallCtx::write(),
                )
                .await
                .map(drop);
        }
        let channel = channel_of(&c.input)
            .ok_or_else(|| CoreError::new(ErrorCode::PeerInvalid, "not a group or channel"))?;
        self.acct
            .invoke(
                &tl::functions::channels::EditTitle {
                    channel,
                    title: title.to_owned(),
                },
                CallCtx::write(),
            )
            .await
            .map(drop)
    }

    // ---- invite links ----------------------------------------------------------------------

    fn link_view(chat_id: i64, i: &tl::enums::ExportedChatInvite) -> Option<InviteLinkView> {
        match i {
            tl::enums::ExportedChatInvite::ChatInviteExported(i) => Some(InviteLinkView {
                link: i.link.clone(),
                chat_id,
                title: i.title.clone(),
                admin_id: Some(i.admin_id),
                usage_limit: i.usage_limit,
                usage: i.usage.unwrap_or(0),
                request_needed: i.request_needed,
                expires_at: i.expire_date.map(|d| d as i64),
                revoked: i.revoked,
            }),
            _ => None,
        }
    }

    async fn mirror_link(&self, v: &InviteLinkView) {
        let _ = self
            .acct
            .rt
            .store
            .upsert_invite_link(
                self.acct.id,
                &telegate_store::InviteLink {
                    link: v.link.clone(),
                    peer_id: v.chat_id,
                    title: v.title.clone(),
                    admin_id: v.admin_id,
                    usage_limit: v.usage_limit,
                    current_uses: v.usage,
                    request_needed: v.request_needed,
                    expire_at: v.expires_at.map(|s| s * 1000),
                    revoked: v.revoked,
                },
            )
            .await;
    }

    pub async fn create_invite_link(
        &self,
        chat: &PeerRef,
        req: &CreateInviteLink,
        opts: &CallOptions,
    ) -> CoreResult<InviteLinkView> {
        if req.usage_limit.is_some_and(|l| !(1..=99_999).contains(&l)) {
            return Err(CoreError::invalid("usage_limit: 1 to 99999"));
        }
        self.once(
            "create_invite_link",
            &(chat.to_string(), req),
            opts,
            || async {
                let c = self.resolve(chat).await?;
                let r = self
                    .acct
                    .invoke(
                        &tl::functions::messages::ExportChatInvite {
                            legacy_revoke_permanent: false,
                            request_needed: req.request_needed,
                            peer: c.input,
                            expire_date: req.expires_at.map(|e| e as i32),
                            usage_limit: req.usage_limit,
                            title: req.title.clone(),
                            subscription_pricing: None,
                        },
                        CallCtx::write(),
                    )
                    .await?;
                let v = Self::link_view(c.id, &r).ok_or_else(|| {
                    CoreError::new(ErrorCode::TelegramError, "Telegram answered no link")
                })?;
                self.mirror_link(&v).await;
                Ok(v)
            },
        )
        .await
    }

    /// The account's links of a chat with their current use counts (live; mirrored).
    pub async fn invite_links(
        &self,
        chat: &PeerRef,
        revoked: bool,
    ) -> CoreResult<Vec<InviteLinkView>> {
        let c = self.resolve(chat).await?;
        let tl::enums::messages::ExportedChatInvites::Invites(r) = self
            .acct
            .invoke(
                &tl::functions::messages::GetExportedChatInvites {
                    revoked,
                    peer: c.input,
                    admin_id: tl::enums::InputUser::UserSelf,
                    offset_date: None,
                    offset_link: None,
                    limit: 100,
                },
                CallCtx::read(),
            )
            .await?;
        let views: Vec<InviteLinkView> = r
            .invites
            .iter()
            .filter_map(|i| Self::link_view(c.id, i))
            .collect();
        for v in &views {
            self.mirror_link(v).await;
        }
        Ok(views)
    }

    pub async fn revoke_invite_link(
        &self,
        chat: &PeerRef,
        link: &str,
    ) -> CoreResult<InviteLinkView> {
        let c = self.resolve(chat).await?;
        let r = self
            .acct
            .invoke(
                &tl::functions::messages::EditExportedChatInvite {
                    revoked: true,
                    peer: c.input,
                    link: link.to_owned(),
                    expire_date: None,
                    usage_limit: None,
                    request_needed: None,
                    title: None,
                },
                CallCtx::write(),
            )
            .await?;
        let invite = match r {
            tl::enums::messages::ExportedChatInvite::Invite(i) => i.invite,
            tl::enums::messages::ExportedChatInvite::Replaced(i) => i.invite,
        };
        let v = Self::link_view(c.id, &invite)
            .ok_or_else(|| CoreError::new(ErrorCode::TelegramError, "Telegram answered no link"))?;
        self.mirror_link(&v).await;
        Ok(v)
    }

    pub async fn invite_importers(
        &self,
        chat: &PeerRef,
        link: &str,
    ) -> CoreResult<Vec<InviteImporter>> {
        let c = self.resolve(chat).await?;
        let tl::enums::messages::ChatInviteImporters::Importers(r) = self
            .acct
            .invoke(
                &tl::functions::messages::GetChatInviteImporters {
                    requested: false,
                    subscription_expired: false,
                    peer: c.input,
                    link: Some(link.to_owned()),
                    q: None,
                    offset_date: 0,
                    offset_user: tl::enums::InputUser::Empty,
                    limit: 100,
                },
                CallCtx::read(),
            )
            .await?;
        self.cache(&r.users, &[]).await;
        Ok(r.importers
            .iter()
            .map(
                |tl::enums::ChatInviteImporter::Importer(i)| InviteImporter {
                    user_id: i.user_id,
                    date: i.date as i64,
                    requested: i.requested,
                },
            )
            .collect())
    }

    // ---- contacts ----------------------------------------------------------------------

    pub async fn import_contacts(
        &self,
        contacts: &[ImportContact],
        opts: &CallOptions,
    ) -> CoreResult<Vec<ContactView>> {
        if contacts.is_empty() || contacts.len() > 100 {
            return Err(CoreError::invalid("contacts: 1 to 100"));
        }
        self.once("import_contacts", &contacts, opts, || async {
            let input = contacts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    tl::enums::InputContact::InputPhoneContact(tl::types::InputPhoneContact {
                        client_id: i as i64,
                        phone: c.phone.clone(),
                        first_name: c.first_name.clone(),
                        last_name: c.last_name.clone().unwrap_or_default(),
                        note: None,
                    })
                })
                .collect();
            let tl::enums::contacts::ImportedContacts::Contacts(r) = self
                .acct
                .invoke(
                    &tl::functions::contacts::ImportContacts { contacts: input },
                    CallCtx::write(),
                )
                .await?;
            self.cache(&r.users, &[]).await;
            // `users` may carry others than the imported (the account itself, say): answer
            // exactly the contacts Telegram reports as imported.
            let imported: std::collections::HashSet<i64> = r
                .imported
                .iter()
                .map(|tl::enums::ImportedContact::Contact(c)| c.user_id)
                .collect();
            let views: Vec<ContactView> = r
                .users
                .iter()
                .filter_map(convert::user_view)
                .filter(|u| imported.contains(&u.id))
                .map(contact_of)
                .collect();
            self.mirror_contacts(&views).await;
            Ok(views)
        })
        .await
    }

    async fn mirror_contacts(&self, views: &[ContactView]) {
        let rows: Vec<telegate_store::Contact> = views
            .iter()
            .map(|c| telegate_store::Contact {
                user_id: c.user_id,
                phone: c.phone.clone(),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                username: c.username.clone(),
                mutual: c.mutual,
                ..Default::default()
            })
            .collect();
        let _ = self
            .acct
            .rt
            .store
            .upsert_contacts(self.acct.id, &rows)
            .await;
    }

    /// Contacts live from Telegram, merged with the app fields kept in the gateway.
    pub async fn contacts(&self) -> CoreResult<Vec<ContactView>> {
        let r = self
            .acct
            .invoke(
                &tl::functions::contacts::GetContacts { hash: 0 },
                CallCtx::read(),
            )
            .await?;
        let users = match r {
            tl::enums::contacts::Contacts::Contacts(c) => c.users,
            tl::enums::contacts::Contacts::NotModified => Vec::new(),
        };
        self.cache(&users, &[]).await;
        let mut views: Vec<ContactView> = users
            .iter()
            .filter_map(convert::user_view)
            .map(contact_of)
            .collect();
        self.mirror_contacts(&views).await;
        let stored = self.acct.rt.store.contacts(self.acct.id).await?;
        for v in &mut views {
            if let Some(s) = stored.iter().find(|s| s.user_id == v.user_id) {
                v.job_title = s.job_title.clone();
                v.company = s.company.clone();
                v.notes = s.notes.clone();
            }
        }
        Ok(views)
    }

    pub async fn delete_contacts(&self, users: &[PeerRef]) -> CoreResult<()> {
        let mut ids = Vec::new();
        for u in users {
            ids.push(user_of(&self.resolve(u).await?.input)?);
        }
        self.acct
            .invoke(
                &tl::functions::contacts::DeleteContacts { id: ids },
                CallCtx::write(),
            )
            .await
            .map(drop)
    }

    // ---- sessions ------------------------------------------------------------------------

    /// The account's Telegram sessions (`account.getAuthorizations`).
    pub async fn authorizations(&self) -> CoreResult<Vec<AuthorizationView>> {
        let tl::enums::account::Authorizations::Authorizations(r) = self
            .acct
            .invoke(
                &tl::functions::account::GetAuthorizations {},
                CallCtx::read(),
            )
            .await?;
        Ok(r.authorizations
            .iter()
            .map(
                |tl::enums::Authorization::Authorization(a)| AuthorizationView {
                    hash: a.hash,
                    current: a.current,
                    device_model: a.device_model.clone(),
                    platform: a.platform.clone(),
                    system_version: a.system_version.clone(),
                    app_name: a.app_name.clone(),
                    app_version: a.app_version.clone(),
                    created_at: a.date_created as i64,
                    active_at: a.date_active as i64,
                    ip: a.ip.clone(),
                    country: a.country.clone(),
                },
            )
            .collect())
    }

    /// The account as Telegram describes it now (`users.getUsers([self])`), e.g. whether it is
    /// premium, which doubles its file size limit.
    pub async fn me(&self) -> CoreResult<UserView> {
        let users = self
            .acct
            .invoke(
                &tl::functions::users::GetUsers {
                    id: vec![tl::enums::InputUser::UserSelf],
                },
                CallCtx::read(),
            )
            .await?;
        users.iter().find_map(convert::user_view).ok_or_else(|| {
            CoreError::new(
                ErrorCode::TelegramError,
                "Telegram did not describe this account",
            )
        })
    }

    /// Terminates another session of the account (`account.resetAuthorization`).
    pub async fn terminate_authorization(&self, hash: i64) -> CoreResult<()> {
        if hash == 0 {
            return Err(CoreError::invalid(
                "hash: 0 is the gateway's own session; use log out",
            ));
        }
        self.acct
            .invoke(
                &tl::functions::account::ResetAuthorization { hash },
                CallCtx::write(),
            )
            .await
            .map(drop)
    }
}

fn contact_of(u: UserView) -> ContactView {
    ContactView {
        user_id: u.id,
        phone: u.phone,
        first_name: u.first_name,
        last_name: u.last_name,
        username: u.username,
        mutual: false,
        ..Default::default()
    }
}

/// Messages in an `Updates` answer; with `random_id`, also the id Telegram gave that send.
pub(crate) fn updates_messages(
    u: tl::enums::Updates,
    random_id: Option<i64>,
) -> (Vec<MessageView>, Option<i32>) {
    let list = match u {
        tl::enums::Updates::Updates(u) => u.updates,
        tl::enums::Updates::Combined(u) => u.updates,
        tl::enums::Updates::UpdateShort(u) => vec![u.update],
        _ => Vec::new(),
    };
    let mut id = None;
    let mut out = Vec::new();
    for up in &list {
        match up {
            tl::enums::Update::MessageId(m) if Some(m.random_id) == random_id => id = Some(m.id),
            tl::enums::Update::NewMessage(m) => out.extend(message_view(&m.message)),
            tl::enums::Update::NewChannelMessage(m) => out.extend(message_view(&m.message)),
            tl::enums::Update::EditMessage(m) => out.extend(message_view(&m.message)),
            tl::enums::Update::EditChannelMessage(m) => out.extend(message_view(&m.message)),
            _ => {}
        }
    }
    (out, id)
}

fn updates_chats(u: &tl::enums::Updates) -> Vec<tl::enums::Chat> {
    match u {
        tl::enums::Updates::Updates(u) => u.chats.clone(),
        tl::enums::Updates::Combined(u) => u.chats.clone(),
        _ => Vec::new(),
    }
}

fn encode_cursor(at: Option<i64>, peer: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{peer}", at.unwrap_or(-1)))
}

fn decode_cursor(c: &str) -> CoreResult<ChatCursor> {
    use base64::Engine as _;
    let bad = || CoreError::invalid("after: not a cursor returned by this API");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (a, p) = s.split_once(':').ok_or_else(bad)?;
    let at: i64 = a.parse().map_err(|_| bad())?;
    Ok(ChatCursor {
        last_message_at: (at >= 0).then_some(at),
        peer_id: p.parse().map_err(|_| bad())?,
    })
}

fn mirror_chat_view(c: telegate_store::Chat) -> ChatView {
    ChatView {
        id: c.peer_id,
        kind: c.kind,
        title: c.title,
        username: c.username,
        unread_count: c.unread_count,
        last_message_id: c.last_message_id,
        last_message_at: c.last_message_at,
        pinned: c.pinned,
        archived: c.archived,
    }
}

/// The hash of an invite link as users paste it.
fn invite_hash(link: &str) -> Option<String> {
    let l = link.trim();
    let l = l
        .strip_prefix("https://")
        .or_else(|| l.strip_prefix("http://"))
        .unwrap_or(l);
    let hash = l
        .strip_prefix("t.me/+")
        .or_else(|| l.strip_prefix("t.me/joinchat/"))
        .or_else(|| l.strip_prefix("telegram.me/joinchat/"))
        .or_else(|| l.strip_prefix('+'))
        .unwrap_or(l);
    (!hash.is_empty()
        && hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| hash.to_owned())
}
