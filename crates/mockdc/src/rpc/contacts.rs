//! Contacts: `contacts.importContacts`, `getContacts` (hash semantics), `deleteContacts`,
//! `addContact`, `search`, `block`, `unblock`, `getBlocked`.

use grammers_tl_types::{self as tl, Cursor, Deserializable, Identifiable, Serializable};
use telegate_mockdc_tl198 as tl198;

use super::account::resolve_input_user;
use super::encode::Layered;
use super::peers::{self, resolve_peer, Mentions};
use super::{decode, CallContext, Handled};
use crate::world::contacts::ContactInput;
use crate::world::{Fail, Peer};

/// The layer-198 `contacts.search` (no `broadcasts` / `bots` flags).
const SEARCH_198: u32 = tl198::functions::contacts::Search::CONSTRUCTOR_ID;

/// Answers the methods of this module; `None` for any other constructor.
pub(super) fn handle(ctx: &mut CallContext<'_>, id: u32, cursor: &mut Cursor) -> Option<Handled> {
    use tl::functions::contacts;
    let now = ctx.now_secs;
    let key_id = ctx.key_id;
    let cluster = ctx.cluster;
    let layer = ctx.session.layer;
    let mut guard = cluster.world();
    let world = &mut *guard;
    Some(match id {
        contacts::ImportContacts::CONSTRUCTOR_ID => (|| {
            let request: contacts::ImportContacts = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let inputs = request
                .contacts
                .into_iter()
                .map(|c| {
                    let tl::enums::InputContact::InputPhoneContact(c) = c;
                    ContactInput {
                        client_id: c.client_id,
                        phone: c.phone,
                        first_name: c.first_name,
                        last_name: c.last_name,
                    }
                })
                .collect();
            let result = world.import_contacts(me, inputs, now);
            let mut mentions = Mentions::default();
            for (user, _) in &result.imported {
                mentions.user(*user);
            }
            let (users, _) = mentions.encode(world, me, now);
            Ok(tl::enums::contacts::ImportedContacts::Contacts(
                tl::types::contacts::ImportedContacts {
                    imported: result
                        .imported
                        .iter()
                        .map(|&(user_id, client_id)| {
                            tl::enums::ImportedContact::Contact(tl::types::ImportedContact {
                                user_id,
                                client_id,
                            })
                        })
                        .collect(),
                    popular_invites: result
                        .popular
                        .iter()
                        .map(|&(client_id, importers)| {
                            tl::enums::PopularContact::Contact(tl::types::PopularContact {
                                client_id,
                                importers,
                            })
                        })
                        .collect(),
                    retry_contacts: result.retry,
                    users,
                },
            )
            .encode_for(layer))
        })(),
        contacts::GetContacts::CONSTRUCTOR_ID => (|| {
            let request: contacts::GetContacts = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let hash = world.contacts_hash(me);
            if request.hash != 0 && request.hash == hash {
                return Ok(tl::enums::contacts::Contacts::NotModified.to_bytes());
            }
            let list = world.contacts_of(me);
            let mut mentions = Mentions::default();
            for (user, _) in &list {
                mentions.user(*user);
            }
            let (users, _) = mentions.encode(world, me, now);
            Ok(
                tl::enums::contacts::Contacts::Contacts(tl::types::contacts::Contacts {
                    contacts: list
                        .iter()
                        .map(|&(user_id, mutual)| {
                            tl::enums::Contact::Contact(tl::types::Contact { user_id, mutual })
                        })
                        .collect(),
                    saved_count: 0,
                    users: users.into_iter().filter(|u| u.id() != me).collect(),
                })
                .encode_for(layer),
            )
        })(),
        contacts::DeleteContacts::CONSTRUCTOR_ID => (|| {
            let request: contacts::DeleteContacts = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let ids = request
                .id
                .iter()
                .map(|u| resolve_input_user(world, me, u))
                .collect::<Result<Vec<i64>, Fail>>()?;
            let deleted = world.delete_contacts(me, &ids);
            let mut mentions = Mentions::default();
            for user in &deleted {
                mentions.user(*user);
            }
            let body = peers::updates_for(world, me, Vec::new(), &mentions, now);
            peers::push(ctx, me, true, body.clone());
            Ok(body.encode_for(layer))
        })(),
        contacts::AddContact::CONSTRUCTOR_ID => (|| {
            let request: contacts::AddContact = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let user = resolve_input_user(world, me, &request.id)
                .map_err(|_| Fail::new(400, "CONTACT_ID_INVALID"))?;
            world.add_contact(
                me,
                user,
                &request.first_name,
                &request.last_name,
                &request.phone,
            )?;
            let mut mentions = Mentions::default();
            mentions.user(user);
            let body = peers::updates_for(world, me, Vec::new(), &mentions, now);
            peers::push(ctx, me, true, body.clone());
            Ok(body.encode_for(layer))
        })(),
        contacts::Search::CONSTRUCTOR_ID | SEARCH_198 => (|| {
            let request: contacts::Search = if id == SEARCH_198 {
                let old = tl198::functions::contacts::Search::deserialize(cursor)
                    .map_err(|_| Fail::new(400, "INPUT_FETCH_ERROR"))?;
                contacts::Search {
                    broadcasts: false,
                    bots: false,
                    q: old.q,
                    limit: old.limit,
                }
            } else {
                decode(cursor)?
            };
            let me = world.user_of(key_id)?;
            if request.q.trim_start_matches('@').is_empty() {
                return Err(Fail::new(400, "QUERY_TOO_SHORT"));
            }
            let (mut mine, mut global) =
                world.search_peers(me, &request.q, request.limit.max(0) as usize);
            // `broadcasts`: only broadcast channels; `bots`: only bots.
            let keep = |p: &Peer| {
                (!request.broadcasts
                    || p.channel_id()
                        .and_then(|id| world.channel(id))
                        .is_some_and(|c| c.broadcast))
                    && (!request.bots
                        || p.user_id()
                            .and_then(|id| world.user(id))
                            .is_some_and(|u| u.bot))
            };
            mine.retain(keep);
            global.retain(keep);
            let mut mentions = Mentions::default();
            for p in mine.iter().chain(&global) {
                mentions.peer(*p);
            }
            let (users, chats) = mentions.encode(world, me, now);
            Ok(
                tl::enums::contacts::Found::Found(tl::types::contacts::Found {
                    my_results: mine.into_iter().map(peers::peer).collect(),
                    results: global.into_iter().map(peers::peer).collect(),
                    chats,
                    users,
                })
                .encode_for(layer),
            )
        })(),
        contacts::Block::CONSTRUCTOR_ID => (|| {
            let request: contacts::Block = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = resolve_peer(world, me, &request.id)
                .map_err(|_| Fail::new(400, "CONTACT_ID_INVALID"))?;
            let changed = world.block(me, peer, now)?;
            if changed {
                push_blocked(ctx, world, me, peer, true);
            }
            Ok(true.to_bytes())
        })(),
        contacts::Unblock::CONSTRUCTOR_ID => (|| {
            let request: contacts::Unblock = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let peer = resolve_peer(world, me, &request.id)
                .map_err(|_| Fail::new(400, "CONTACT_ID_INVALID"))?;
            if world.unblock(me, peer) {
                push_blocked(ctx, world, me, peer, false);
            }
            Ok(true.to_bytes())
        })(),
        contacts::GetBlocked::CONSTRUCTOR_ID => (|| {
            let request: contacts::GetBlocked = decode(cursor)?;
            let me = world.user_of(key_id)?;
            let (page, total) = world.blocked_of(
                me,
                request.offset.max(0) as usize,
                request.limit.max(0) as usize,
            );
            let mut mentions = Mentions::default();
            for (p, _) in &page {
                mentions.peer(*p);
            }
            let (users, chats) = mentions.encode(world, me, now);
            let blocked = page
                .iter()
                .map(|(p, date)| {
                    tl::enums::PeerBlocked::Blocked(tl::types::PeerBlocked {
                        peer_id: peers::peer(*p),
                        date: *date,
                    })
                })
                .collect();
            Ok(if page.len() < total {
                tl::enums::contacts::Blocked::Slice(tl::types::contacts::BlockedSlice {
                    count: total as i32,
                    blocked,
                    chats,
                    users,
                })
            } else {
                tl::enums::contacts::Blocked::Blocked(tl::types::contacts::Blocked {
                    blocked,
                    chats,
                    users,
                })
            }
            .encode_for(layer))
        })(),
        _ => return None,
    })
}

/// The user's other sessions learn of a block change (`updatePeerBlocked`).
fn push_blocked(
    ctx: &mut CallContext<'_>,
    world: &crate::world::World,
    me: i64,
    peer: Peer,
    blocked: bool,
) {
    let update = tl::enums::Update::PeerBlocked(tl::types::UpdatePeerBlocked {
        blocked,
        blocked_my_stories_from: false,
        peer_id: peers::peer(peer),
    });
    let mut mentions = Mentions::default();
    mentions.peer(peer);
    let body = peers::updates_for(world, me, vec![update], &mentions, ctx.now_secs);
    peers::push(ctx, me, true, body);
}
