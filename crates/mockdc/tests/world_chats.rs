//! Groups and channels through grammers-client 0.11: create, invite, promote, kick, ban, post,
//! read, edit, delete, forward, dialogs and history; each permission error by its exact name;
//! and channel updates (per-channel pts, pushes, getChannelDifference catch-up).

mod common;

use std::time::Duration;

use common::{
    channel_ref, chat_ref, connect, connect_with, create_and_login, error_name, http, no_retries,
    user_ref, within,
};
use grammers_client::peer::Role;
use grammers_client::update::Update;
use grammers_mtsender::UpdatesConfiguration;
use grammers_tl_types as tl;
use telegate_mockdc::server::{MockDc, MockDcConfig};

async fn start() -> MockDc {
    MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The next update `pick` accepts (others are skipped), within 20 s.
async fn next_matching<T>(
    stream: &mut grammers_client::client::UpdateStream,
    mut pick: impl FnMut(&Update) -> Option<T>,
) -> T {
    loop {
        let update = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an update within 20 s")
            .expect("the update stream works");
        if let Some(found) = pick(&update) {
            return found;
        }
    }
}

fn new_text(update: &Update) -> Option<String> {
    match update {
        Update::NewMessage(m) if m.action().is_none() => Some(m.text().to_string()),
        _ => None,
    }
}

/// The chats of an `Updates` answer.
fn chats_of(updates: &tl::enums::Updates) -> Vec<tl::enums::Chat> {
    match updates {
        tl::enums::Updates::Updates(u) => u.chats.clone(),
        tl::enums::Updates::Combined(u) => u.chats.clone(),
        other => panic!("expected updates with chats, got {other:?}"),
    }
}

fn created_chat_id(invited: &tl::enums::messages::InvitedUsers) -> i64 {
    let tl::enums::messages::InvitedUsers::Users(invited) = invited;
    match chats_of(&invited.updates).first() {
        Some(tl::enums::Chat::Chat(c)) => c.id,
        other => panic!("expected the new chat, got {other:?}"),
    }
}

async fn create_channel(client: &grammers_client::Client, title: &str, megagroup: bool) -> i64 {
    let updates = within(client.invoke(&tl::functions::channels::CreateChannel {
        broadcast: !megagroup,
        megagroup,
        for_import: false,
        forum: false,
        title: title.into(),
        about: String::new(),
        geo_point: None,
        address: None,
        ttl_period: None,
    }))
    .await
    .unwrap();
    match chats_of(&updates).first() {
        Some(tl::enums::Chat::Channel(c)) => {
            assert_eq!(
                (c.megagroup, c.broadcast, c.creator),
                (megagroup, !megagroup, true)
            );
            c.id
        }
        other => panic!("expected the new channel, got {other:?}"),
    }
}

fn input_user(dc: &MockDc, viewer: i64, user: i64) -> tl::enums::InputUser {
    user_ref(dc, viewer, user).into()
}

#[tokio::test]
async fn basic_group_create_add_promote_kick_and_messages() {
    let dc = start().await;
    let alice = connect(&dc, 2, None);
    let mut bob = connect(&dc, 2, None);
    let carol = connect_with(&dc, 2, None, no_retries());
    let alice_id = create_and_login(&dc, &alice.client, "+15561001", "alice_g").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15561002", "bob_g").await;
    let carol_id = create_and_login(&dc, &carol.client, "+15561003", "carol_g").await;
    let mut bob_updates = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();

    // Alice creates the group with Bob; Bob, online, sees the service message.
    let invited = within(alice.client.invoke(&tl::functions::messages::CreateChat {
        users: vec![input_user(&dc, alice_id, bob_id)],
        title: "Project team".into(),
        ttl_period: None,
    }))
    .await
    .unwrap();
    let chat = created_chat_id(&invited);
    let action = next_matching(&mut bob_updates, |u| match u {
        Update::NewMessage(m) => m.action().cloned(),
        _ => None,
    })
    .await;
    assert!(
        matches!(&action, tl::enums::MessageAction::ChatCreate(c) if c.title == "Project team" && c.users.contains(&bob_id)),
        "{action:?}"
    );

    // Bob (a member) adds Carol; Alice promotes Bob.
    within(bob.client.invoke(&tl::functions::messages::AddChatUser {
        chat_id: chat,
        user_id: input_user(&dc, bob_id, carol_id),
        fwd_limit: 10,
    }))
    .await
    .unwrap();
    within(
        alice
            .client
            .set_admin_rights(chat_ref(chat), user_ref(&dc, alice_id, bob_id))
            .ban_users(true),
    )
    .await
    .unwrap();
    let permissions = within(
        alice
            .client
            .get_permissions(chat_ref(chat), user_ref(&dc, alice_id, bob_id)),
    )
    .await
    .unwrap();
    assert!(permissions.is_admin());

    // Messages in the group: pushed to members, in every member's history.
    let sent = within(alice.client.send_message(chat_ref(chat), "hello group"))
        .await
        .unwrap();
    assert_eq!(
        next_matching(&mut bob_updates, new_text).await,
        "hello group"
    );
    let mut history = carol.client.iter_messages(chat_ref(chat));
    let mut texts = Vec::new();
    while let Some(m) = within(history.next()).await.unwrap() {
        texts.push((m.text().to_string(), m.action().is_some()));
    }
    assert_eq!(texts[0], ("hello group".to_string(), false));
    assert!(texts.iter().skip(1).all(|(_, service)| *service));
    within(
        alice
            .client
            .edit_message(chat_ref(chat), sent.id(), "hello, group"),
    )
    .await
    .unwrap();
    let edited = next_matching(&mut bob_updates, |u| match u {
        Update::MessageEdited(m) => Some(m.text().to_string()),
        _ => None,
    })
    .await;
    assert_eq!(edited, "hello, group");
    within(bob.client.mark_as_read(chat_ref(chat)))
        .await
        .unwrap();
    {
        let world = dc.cluster().world();
        let alice_dialog =
            &world.mailbox(alice_id).unwrap().dialogs[&telegate_mockdc::world::Peer::Chat(chat)];
        assert_eq!(
            alice_dialog.read_outbox_max_id,
            sent.id(),
            "Bob's read reached Alice"
        );
    }

    // The dialogs list has the group, with its title, and grammers does not panic.
    let mut dialogs = alice.client.iter_dialogs();
    let mut names = Vec::new();
    while let Some(d) = within(dialogs.next()).await.unwrap() {
        names.push(d.peer().name().unwrap_or_default().to_string());
    }
    assert!(names.contains(&"Project team".to_string()), "{names:?}");

    // Bob (admin, not creator) may not promote; Alice kicks Carol, who then cannot write.
    assert_eq!(
        error_name(
            within(bob.client.invoke(&tl::functions::messages::EditChatAdmin {
                chat_id: chat,
                user_id: input_user(&dc, bob_id, carol_id),
                is_admin: true,
            }))
            .await
        ),
        "CHAT_ADMIN_REQUIRED"
    );
    within(
        alice
            .client
            .kick_participant(chat_ref(chat), user_ref(&dc, alice_id, carol_id)),
    )
    .await
    .unwrap();
    let mut participants = alice.client.iter_participants(chat_ref(chat));
    let mut members = Vec::new();
    while let Some(p) = within(participants.next()).await.unwrap() {
        members.push((
            p.user.id().bare_id().unwrap(),
            matches!(p.role, Role::Creator(_)),
        ));
    }
    members.sort();
    assert_eq!(members, {
        let mut expected = vec![(alice_id, true), (bob_id, false)];
        expected.sort();
        expected
    });
    assert_eq!(
        error_name(
            within(
                alice
                    .client
                    .kick_participant(chat_ref(chat), user_ref(&dc, alice_id, carol_id))
            )
            .await
        ),
        "USER_NOT_PARTICIPANT"
    );
    assert_eq!(
        error_name(within(carol.client.send_message(chat_ref(chat), "still here?")).await),
        "CHAT_WRITE_FORBIDDEN"
    );
    // messages.search and messages.getPeerDialogs in the group.
    let found = within(alice.client.invoke(&search(
        tl::enums::InputPeer::Chat(tl::types::InputPeerChat { chat_id: chat }),
        "group",
    )))
    .await
    .unwrap();
    assert_eq!(message_ids(&found), vec![sent.id()]);
    let tl::enums::messages::PeerDialogs::Dialogs(peer_dialogs) = within(alice.client.invoke(
        &tl::functions::messages::GetPeerDialogs {
            peers: vec![tl::enums::InputDialogPeer::Peer(
                tl::types::InputDialogPeer {
                    peer: tl::enums::InputPeer::Chat(tl::types::InputPeerChat { chat_id: chat }),
                },
            )],
        },
    ))
    .await
    .unwrap();
    assert_eq!(peer_dialogs.dialogs.len(), 1);
    assert!(matches!(&peer_dialogs.chats[0], tl::enums::Chat::Chat(c) if c.id == chat));
    // Deleting with revoke removes every member's copy.
    within(alice.client.delete_messages(chat_ref(chat), &[sent.id()]))
        .await
        .unwrap();
    assert!(dc
        .cluster()
        .world()
        .mailbox(bob_id)
        .unwrap()
        .messages
        .values()
        .all(|m| m.text != "hello, group"));

    // messages.migrateChat: the group becomes a megagroup with the same members.
    let migrated = within(
        alice
            .client
            .invoke(&tl::functions::messages::MigrateChat { chat_id: chat }),
    )
    .await
    .unwrap();
    let megagroup = chats_of(&migrated)
        .iter()
        .find_map(|c| match c {
            tl::enums::Chat::Channel(c) => Some(c.id),
            _ => None,
        })
        .expect("the new megagroup");
    assert!(chats_of(&migrated).iter().any(|c| matches!(
        c,
        tl::enums::Chat::Chat(g) if g.id == chat && g.deactivated && g.migrated_to.is_some()
    )));
    assert!(dc
        .cluster()
        .world()
        .channel(megagroup)
        .unwrap()
        .is_member(bob_id));
    assert_eq!(
        error_name(within(bob.client.send_message(chat_ref(chat), "old group?")).await),
        "CHAT_ID_INVALID"
    );
    drop(bob_updates);
    for c in [alice, bob, carol] {
        c.disconnect();
    }
    dc.shutdown().await;
}

fn search(peer: tl::enums::InputPeer, q: &str) -> tl::functions::messages::Search {
    tl::functions::messages::Search {
        peer,
        q: q.into(),
        from_id: None,
        saved_peer_id: None,
        saved_reaction: None,
        top_msg_id: None,
        filter: tl::enums::MessagesFilter::InputMessagesFilterEmpty,
        min_date: 0,
        max_date: 0,
        offset_id: 0,
        add_offset: 0,
        limit: 10,
        max_id: 0,
        min_id: 0,
        hash: 0,
    }
}

fn message_ids(found: &tl::enums::messages::Messages) -> Vec<i32> {
    match found {
        tl::enums::messages::Messages::Messages(m) => m.messages.iter().map(|m| m.id()).collect(),
        tl::enums::messages::Messages::Slice(m) => m.messages.iter().map(|m| m.id()).collect(),
        tl::enums::messages::Messages::ChannelMessages(m) => {
            m.messages.iter().map(|m| m.id()).collect()
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn channels_invite_promote_restrict_kick_with_telegrams_errors() {
    let dc = start().await;
    let alice = connect(&dc, 2, None);
    let mut bob = connect(&dc, 2, None);
    let carol = connect_with(&dc, 2, None, no_retries());
    let dave = connect_with(&dc, 2, None, no_retries());
    let alice_id = create_and_login(&dc, &alice.client, "+15562001", "alice_c").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15562002", "bob_c").await;
    let carol_id = create_and_login(&dc, &carol.client, "+15562003", "carol_c").await;
    let dave_id = create_and_login(&dc, &dave.client, "+15562004", "dave_c").await;
    let mut bob_updates = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();

    let group = create_channel(&alice.client, "Supergroup", true).await;
    let alice_ch = channel_ref(&dc, alice_id, group);
    within(
        alice
            .client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: alice_ch.into(),
                users: [bob_id, carol_id, dave_id]
                    .iter()
                    .map(|u| input_user(&dc, alice_id, *u))
                    .collect(),
            }),
    )
    .await
    .unwrap();
    let added = next_matching(&mut bob_updates, |u| match u {
        Update::NewMessage(m) => match m.action() {
            Some(tl::enums::MessageAction::ChatAddUser(a)) => Some(a.users.clone()),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(added, vec![bob_id, carol_id, dave_id]);

    // Alice promotes Bob; the admins list shows both roles.
    within(
        alice
            .client
            .set_admin_rights(alice_ch, user_ref(&dc, alice_id, bob_id))
            .ban_users(true)
            .delete_messages(true)
            .invite_users(true),
    )
    .await
    .unwrap();
    let mut admins = alice
        .client
        .iter_participants(alice_ch)
        .filter(tl::enums::ChannelParticipantsFilter::ChannelParticipantsAdmins);
    let mut roles = Vec::new();
    while let Some(p) = within(admins.next()).await.unwrap() {
        roles.push((
            p.user.id().bare_id().unwrap(),
            match p.role {
                Role::Creator(_) => "creator",
                Role::Admin(_) => "admin",
                _ => "other",
            },
        ));
    }
    roles.sort();
    let mut expected = vec![(alice_id, "creator"), (bob_id, "admin")];
    expected.sort();
    assert_eq!(roles, expected);
    assert_eq!(
        within(alice.client.iter_participants(alice_ch).total())
            .await
            .unwrap(),
        4
    );

    // Carol is no admin: CHAT_ADMIN_REQUIRED for promoting, editing the title, making links.
    let carol_ch = channel_ref(&dc, carol_id, group);
    assert_eq!(
        error_name(
            within(
                carol
                    .client
                    .set_admin_rights(carol_ch, user_ref(&dc, carol_id, dave_id))
                    .ban_users(true)
            )
            .await
        ),
        "CHAT_ADMIN_REQUIRED"
    );
    assert_eq!(
        error_name(
            within(carol.client.invoke(&tl::functions::channels::EditTitle {
                channel: carol_ch.into(),
                title: "Mine now".into(),
            }))
            .await
        ),
        "CHAT_ADMIN_REQUIRED"
    );
    // Bob restricts Dave from sending: USER_BANNED_IN_CHANNEL.
    let bob_ch = channel_ref(&dc, bob_id, group);
    within(
        bob.client
            .set_banned_rights(bob_ch, user_ref(&dc, bob_id, dave_id))
            .send_messages(false),
    )
    .await
    .unwrap();
    let dave_ch = channel_ref(&dc, dave_id, group);
    assert_eq!(
        error_name(within(dave.client.send_message(dave_ch, "can I?")).await),
        "USER_BANNED_IN_CHANNEL"
    );

    // Messages: pushed with the channel's pts, read, edited, deleted by a moderator.
    let sent = within(alice.client.send_message(alice_ch, "hi channel"))
        .await
        .unwrap();
    let pushed = next_matching(&mut bob_updates, |u| match u {
        Update::NewMessage(m) if m.text() == "hi channel" => Some(m.peer_id()),
        _ => None,
    })
    .await;
    assert_eq!(pushed.bare_id(), Some(group));
    within(bob.client.mark_as_read(bob_ch)).await.unwrap();
    within(
        alice
            .client
            .edit_message(alice_ch, sent.id(), "hi, channel"),
    )
    .await
    .unwrap();
    let mut history = bob.client.iter_messages(bob_ch);
    let first = within(history.next()).await.unwrap().unwrap();
    assert_eq!((first.id(), first.text()), (sent.id(), "hi, channel"));
    assert!(!first.outgoing(), "Bob did not write it");
    within(bob.client.delete_messages(bob_ch, &[sent.id()]))
        .await
        .unwrap();
    assert!(dc
        .cluster()
        .world()
        .channel_message(group, sent.id())
        .is_none());
    // Carol may not delete Alice's messages.
    let another = within(alice.client.send_message(alice_ch, "keep me"))
        .await
        .unwrap();
    assert_eq!(
        error_name(within(carol.client.delete_messages(carol_ch, &[another.id()])).await),
        "MESSAGE_DELETE_FORBIDDEN"
    );

    // Bob kicks Carol (ban 60 s, then unban, as grammers does): she is out, cannot read, and
    // cannot join back by herself.
    within(
        bob.client
            .kick_participant(bob_ch, user_ref(&dc, bob_id, carol_id)),
    )
    .await
    .unwrap();
    assert_eq!(
        error_name(
            within(
                alice
                    .client
                    .get_permissions(alice_ch, user_ref(&dc, alice_id, carol_id))
            )
            .await
        ),
        "USER_NOT_PARTICIPANT"
    );
    let mut carol_history = carol.client.iter_messages(carol_ch);
    assert_eq!(
        error_name(within(carol_history.next()).await),
        "CHANNEL_PRIVATE"
    );
    assert_eq!(
        error_name(
            within(carol.client.invoke(&tl::functions::channels::JoinChannel {
                channel: carol_ch.into(),
            }))
            .await
        ),
        "CHANNEL_PRIVATE"
    );

    // messages.search and messages.getPeerDialogs in the channel (its pts in the dialog).
    let found = within(bob.client.invoke(&search(bob_ch.into(), "keep")))
        .await
        .unwrap();
    assert!(matches!(
        &found,
        tl::enums::messages::Messages::ChannelMessages(_)
    ));
    assert_eq!(message_ids(&found), vec![another.id()]);
    let tl::enums::messages::PeerDialogs::Dialogs(peer_dialogs) =
        within(bob.client.invoke(&tl::functions::messages::GetPeerDialogs {
            peers: vec![tl::enums::InputDialogPeer::Peer(
                tl::types::InputDialogPeer {
                    peer: bob_ch.into(),
                },
            )],
        }))
        .await
        .unwrap();
    let (pts_now, last) = {
        let world = dc.cluster().world();
        let c = world.channel(group).unwrap();
        (c.pts, *c.messages.keys().next_back().unwrap())
    };
    assert!(matches!(
        &peer_dialogs.dialogs[0],
        tl::enums::Dialog::Dialog(d) if d.pts == Some(pts_now) && d.top_message == last
    ));
    // Forward from the channel into a basic group: every member's box gets it.
    let invited = within(alice.client.invoke(&tl::functions::messages::CreateChat {
        users: vec![input_user(&dc, alice_id, bob_id)],
        title: "Side room".into(),
        ttl_period: None,
    }))
    .await
    .unwrap();
    let side = created_chat_id(&invited);
    let into_group = within(alice.client.forward_messages(
        chat_ref(side),
        &[another.id()],
        alice_ch,
    ))
    .await
    .unwrap();
    assert!(into_group[0].as_ref().unwrap().forward_header().is_some());
    assert!(dc
        .cluster()
        .world()
        .mailbox(bob_id)
        .unwrap()
        .messages
        .values()
        .any(|m| m.peer == telegate_mockdc::world::Peer::Chat(side) && m.text == "keep me"));
    // Forward from the channel to a private chat keeps the origin.
    let forwarded = within(alice.client.forward_messages(
        user_ref(&dc, alice_id, bob_id),
        &[another.id()],
        alice_ch,
    ))
    .await
    .unwrap();
    assert!(forwarded[0].as_ref().unwrap().forward_header().is_some());

    // getFullChannel: counts and the channel's pts.
    let tl::enums::messages::ChatFull::Full(full) = within(alice.client.invoke(
        &tl::functions::channels::GetFullChannel {
            channel: alice_ch.into(),
        },
    ))
    .await
    .unwrap();
    let tl::enums::ChatFull::ChannelFull(full) = full.full_chat else {
        panic!("expected channelFull")
    };
    let world_pts = dc.cluster().world().channel(group).unwrap().pts;
    assert_eq!(
        (full.participants_count, full.admins_count, full.pts),
        (Some(3), Some(2), world_pts)
    );
    assert!(
        full.exported_invite.is_some(),
        "the creator's permanent link"
    );

    // A broadcast: subscribers cannot post nor list subscribers.
    let news = create_channel(&alice.client, "News", false).await;
    within(
        alice
            .client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: channel_ref(&dc, alice_id, news).into(),
                users: vec![input_user(&dc, alice_id, dave_id)],
            }),
    )
    .await
    .unwrap();
    let dave_news = channel_ref(&dc, dave_id, news);
    assert_eq!(
        error_name(within(dave.client.send_message(dave_news, "me too")).await),
        "CHAT_ADMIN_REQUIRED"
    );
    assert_eq!(
        error_name(within(dave.client.iter_participants(dave_news).total()).await),
        "CHAT_ADMIN_REQUIRED"
    );
    let post = within(
        alice
            .client
            .send_message(channel_ref(&dc, alice_id, news), "edition 1"),
    )
    .await
    .unwrap();
    assert!(post.post(), "broadcast messages are channel posts");
    assert_eq!(
        error_name(
            within(dave.client.invoke(&tl::functions::channels::LeaveChannel {
                channel: channel_ref(&dc, alice_id, news).into(),
            }))
            .await
        ),
        "CHANNEL_INVALID",
        "another viewer's access hash is refused"
    );
    within(dave.client.invoke(&tl::functions::channels::LeaveChannel {
        channel: dave_news.into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        error_name(
            within(dave.client.invoke(&tl::functions::channels::LeaveChannel {
                channel: dave_news.into(),
            }))
            .await
        ),
        "USER_NOT_PARTICIPANT"
    );

    // Every dialog's peer is in the answer: grammers lists them all without panicking.
    let mut dialogs = alice.client.iter_dialogs();
    let mut names = Vec::new();
    while let Some(d) = within(dialogs.next()).await.unwrap() {
        names.push(d.peer().name().unwrap_or_default().to_string());
    }
    // (All three had their last message in the same second: their order is not asserted.)
    names.sort();
    assert_eq!(names, vec!["News", "Side room", "Supergroup", "bob_c"]);
    drop(bob_updates);
    for c in [alice, bob, carol, dave] {
        c.disconnect();
    }
    dc.shutdown().await;
}

fn invite_link(invite: &tl::enums::ExportedChatInvite) -> String {
    match invite {
        tl::enums::ExportedChatInvite::ChatInviteExported(i) => i.link.clone(),
        other => panic!("expected chatInviteExported, got {other:?}"),
    }
}

fn hash_of(link: &str) -> String {
    link.rsplit('+').next().unwrap().to_string()
}

#[tokio::test]
async fn invite_link_with_usage_limit_two_then_join_requests() {
    let dc = start().await;
    let url = dc.ready_info().control_url.clone();
    let mut alice = connect(&dc, 2, None);
    let bob = connect(&dc, 2, None);
    let carol = connect(&dc, 2, None);
    let dave = connect_with(&dc, 2, None, no_retries());
    let alice_id = create_and_login(&dc, &alice.client, "+15563001", "alice_i").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15563002", "bob_i").await;
    let carol_id = create_and_login(&dc, &carol.client, "+15563003", "carol_i").await;
    let dave_id = create_and_login(&dc, &dave.client, "+15563004", "dave_i").await;
    let mut alice_updates = alice
        .client
        .stream_updates(
            alice.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();

    // The channel is made through the control API, owned by Alice.
    let (status, made) = http(
        &url,
        "POST",
        "/v1/channels",
        &format!(r#"{{"owner_user_id":{alice_id},"title":"Invite only","kind":"megagroup"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let channel = made["channel_id"].as_i64().unwrap();
    let peer: tl::enums::InputPeer = channel_ref(&dc, alice_id, channel).into();

    let invite = within(
        alice
            .client
            .invoke(&tl::functions::messages::ExportChatInvite {
                legacy_revoke_permanent: false,
                request_needed: false,
                peer: peer.clone(),
                expire_date: None,
                usage_limit: Some(2),
                title: Some("two seats".into()),
                subscription_pricing: None,
            }),
    )
    .await
    .unwrap();
    let link = invite_link(&invite);
    assert!(link.starts_with("https://t.me/+"), "{link}");

    // Bob checks then joins; Carol joins; Dave is refused: the link is used up.
    let check = within(
        bob.client
            .invoke(&tl::functions::messages::CheckChatInvite {
                hash: hash_of(&link),
            }),
    )
    .await
    .unwrap();
    assert!(
        matches!(&check, tl::enums::ChatInvite::Invite(i) if i.title == "Invite only" && i.megagroup && i.participants_count == 1),
        "{check:?}"
    );
    for client in [&bob.client, &carol.client] {
        let joined = within(client.invoke(&tl::functions::messages::ImportChatInvite {
            hash: hash_of(&link),
        }))
        .await
        .unwrap();
        let tl::enums::messages::ChatInviteJoinResult::Ok(ok) = joined else {
            panic!("expected chatInviteJoinResultOk")
        };
        assert!(chats_of(&ok.updates)
            .iter()
            .any(|c| matches!(c, tl::enums::Chat::Channel(c) if c.id == channel && !c.left)));
    }
    assert_eq!(
        error_name(
            within(
                dave.client
                    .invoke(&tl::functions::messages::ImportChatInvite {
                        hash: hash_of(&link),
                    })
            )
            .await
        ),
        "INVITE_HASH_EXPIRED"
    );
    assert_eq!(
        error_name(
            within(
                dave.client
                    .invoke(&tl::functions::messages::CheckChatInvite {
                        hash: hash_of(&link),
                    })
            )
            .await
        ),
        "INVITE_HASH_EXPIRED"
    );

    // Alice (admin) was told about each join, with the link used.
    let mut joiners = Vec::new();
    while joiners.len() < 2 {
        let (user, used) = next_matching(&mut alice_updates, |u| match u {
            Update::Raw(raw) => match &raw.raw {
                tl::enums::Update::ChannelParticipant(p) if p.new_participant.is_some() => {
                    Some((p.user_id, p.invite.as_ref().map(invite_link)))
                }
                _ => None,
            },
            _ => None,
        })
        .await;
        assert_eq!(used.as_deref(), Some(link.as_str()));
        joiners.push(user);
    }
    assert_eq!(joiners, vec![bob_id, carol_id]);

    // getExportedChatInvites shows usage 2; getChatInviteImporters lists Bob and Carol.
    let tl::enums::messages::ExportedChatInvites::Invites(listed) = within(alice.client.invoke(
        &tl::functions::messages::GetExportedChatInvites {
            revoked: false,
            peer: peer.clone(),
            admin_id: tl::enums::InputUser::UserSelf,
            offset_date: None,
            offset_link: None,
            limit: 10,
        },
    ))
    .await
    .unwrap();
    let ours = listed
        .invites
        .iter()
        .find_map(|i| match i {
            tl::enums::ExportedChatInvite::ChatInviteExported(i) if i.link == link => Some(i),
            _ => None,
        })
        .expect("the link is listed");
    assert_eq!(
        (ours.usage, ours.usage_limit, ours.title.as_deref()),
        (Some(2), Some(2), Some("two seats"))
    );
    let tl::enums::messages::ChatInviteImporters::Importers(importers) = within(
        alice
            .client
            .invoke(&tl::functions::messages::GetChatInviteImporters {
                requested: false,
                subscription_expired: false,
                peer: peer.clone(),
                link: Some(link.clone()),
                q: None,
                offset_date: 0,
                offset_user: tl::enums::InputUser::Empty,
                limit: 10,
            }),
    )
    .await
    .unwrap();
    let mut who: Vec<i64> = importers
        .importers
        .iter()
        .map(|i| match i {
            tl::enums::ChatInviteImporter::Importer(i) => i.user_id,
        })
        .collect();
    who.sort();
    assert_eq!((importers.count, who), (2, vec![bob_id, carol_id]));

    // A link that needs approval: INVITE_REQUEST_SENT, a pending request, then approval.
    let ask = invite_link(
        &within(
            alice
                .client
                .invoke(&tl::functions::messages::ExportChatInvite {
                    legacy_revoke_permanent: false,
                    request_needed: true,
                    peer: peer.clone(),
                    expire_date: None,
                    usage_limit: None,
                    title: None,
                    subscription_pricing: None,
                }),
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        error_name(
            within(
                dave.client
                    .invoke(&tl::functions::messages::ImportChatInvite {
                        hash: hash_of(&ask),
                    })
            )
            .await
        ),
        "INVITE_REQUEST_SENT"
    );
    let pending = next_matching(&mut alice_updates, |u| match u {
        Update::Raw(raw) => match &raw.raw {
            tl::enums::Update::PendingJoinRequests(p) => {
                Some((p.requests_pending, p.recent_requesters.clone()))
            }
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(pending, (1, vec![dave_id]));
    within(
        alice
            .client
            .invoke(&tl::functions::messages::HideChatJoinRequest {
                approved: true,
                peer: peer.clone(),
                user_id: input_user(&dc, alice_id, dave_id),
            }),
    )
    .await
    .unwrap();
    assert!(dc
        .cluster()
        .world()
        .channel(channel)
        .unwrap()
        .is_member(dave_id));
    let (status, state) = http(&url, "GET", &format!("/v1/channels/{channel}"), "").await;
    assert_eq!(status, 200);
    assert_eq!(state["participants"].as_array().unwrap().len(), 4);
    let ask_state = state["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["link"] == ask.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (ask_state["usage"].as_i64(), ask_state["requested"].as_i64()),
        (Some(1), Some(0))
    );

    // Revoke and delete the used-up link.
    within(
        alice
            .client
            .invoke(&tl::functions::messages::EditExportedChatInvite {
                revoked: true,
                peer: peer.clone(),
                link: link.clone(),
                expire_date: None,
                usage_limit: None,
                request_needed: None,
                title: None,
            }),
    )
    .await
    .unwrap();
    within(
        alice
            .client
            .invoke(&tl::functions::messages::DeleteExportedChatInvite {
                peer: peer.clone(),
                link: link.clone(),
            }),
    )
    .await
    .unwrap();
    assert!(dc.cluster().world().invite(&link).is_none());
    drop(alice_updates);
    for c in [alice, bob, carol, dave] {
        c.disconnect();
    }
    dc.shutdown().await;
}

#[tokio::test]
async fn full_basic_group_refuses_with_users_too_much_and_admins_see_link_joins() {
    let dc = start().await;
    let mut alice = connect(&dc, 2, None);
    let bob = connect_with(&dc, 2, None, no_retries());
    let alice_id = create_and_login(&dc, &alice.client, "+15564001", "alice_f").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15564002", "bob_f").await;
    let mut alice_updates = alice
        .client
        .stream_updates(
            alice.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();
    // 198 others fill the group to one seat short of 200 with Alice.
    let others: Vec<i64> = (0..198)
        .map(|i| common::create_user(&dc, &format!("+1556410{i:04}"), &format!("filler{i:03}")))
        .collect();
    let (chat, _) = dc
        .cluster()
        .world()
        .create_group(alice_id, "Almost full", &others, 1)
        .unwrap();
    let invite = within(
        alice
            .client
            .invoke(&tl::functions::messages::ExportChatInvite {
                legacy_revoke_permanent: false,
                request_needed: false,
                peer: tl::enums::InputPeer::Chat(tl::types::InputPeerChat { chat_id: chat }),
                expire_date: None,
                usage_limit: None,
                title: None,
                subscription_pricing: None,
            }),
    )
    .await
    .unwrap();
    let link = invite_link(&invite);
    within(
        bob.client
            .invoke(&tl::functions::messages::ImportChatInvite {
                hash: hash_of(&link),
            }),
    )
    .await
    .unwrap();
    // Alice sees the join with the link used, as updateChatParticipant.
    let (user, used) = next_matching(&mut alice_updates, |u| match u {
        Update::Raw(raw) => match &raw.raw {
            tl::enums::Update::ChatParticipant(p) => {
                Some((p.user_id, p.invite.as_ref().map(invite_link)))
            }
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!((user, used.as_deref()), (bob_id, Some(link.as_str())));
    assert_eq!(dc.cluster().world().group(chat).unwrap().members.len(), 200);
    // The 201st user is refused: USERS_TOO_MUCH.
    let carol = connect_with(&dc, 2, None, no_retries());
    create_and_login(&dc, &carol.client, "+15564003", "carol_f").await;
    assert_eq!(
        error_name(
            within(
                carol
                    .client
                    .invoke(&tl::functions::messages::ImportChatInvite {
                        hash: hash_of(&link),
                    })
            )
            .await
        ),
        "USERS_TOO_MUCH"
    );
    drop(alice_updates);
    for c in [alice, bob, carol] {
        c.disconnect();
    }
    dc.shutdown().await;
}

#[tokio::test]
async fn offline_member_catches_up_a_channel_gap_once_in_order() {
    let dc = start().await;
    let url = dc.ready_info().control_url.clone();
    let alice = connect(&dc, 2, None);
    let mut bob = connect(&dc, 2, None);
    let alice_id = create_and_login(&dc, &alice.client, "+15565001", "alice_u").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15565002", "bob_u").await;
    let channel = create_channel(&alice.client, "Feed", false).await;
    let alice_ch = channel_ref(&dc, alice_id, channel);
    within(
        alice
            .client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: alice_ch.into(),
                users: vec![input_user(&dc, alice_id, bob_id)],
            }),
    )
    .await
    .unwrap();

    // Bob is online for the first post, saves his update state, and goes away.
    let mut stream = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();
    within(alice.client.send_message(alice_ch, "before"))
        .await
        .unwrap();
    assert_eq!(next_matching(&mut stream, new_text).await, "before");
    stream.sync_update_state().await.unwrap();
    drop(stream);
    let session = bob.disconnect();

    // 150 posts while he is away: more than one getChannelDifference slice (100 for users),
    // some by Alice's client, some as the channel through the control API.
    for i in 0..100 {
        within(alice.client.send_message(alice_ch, format!("offline {i}")))
            .await
            .unwrap();
    }
    for i in 100..150 {
        let (status, posted) = http(
            &url,
            "POST",
            &format!("/v1/channels/{channel}/posts"),
            &format!(r#"{{"text":"offline {i}"}}"#),
        )
        .await;
        assert_eq!(status, 200, "{posted}");
    }

    // Back with the same session: grammers asks getChannelDifference until `final`.
    let mut bob = connect(&dc, 2, Some(session));
    let mut stream = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: true },
        )
        .await
        .unwrap();
    let mut texts = Vec::new();
    while texts.len() < 150 {
        texts.push(next_matching(&mut stream, new_text).await);
    }
    let expected: Vec<String> = (0..150).map(|i| format!("offline {i}")).collect();
    assert_eq!(texts, expected);
    // Nothing twice: the next message seen is a new one.
    within(alice.client.send_message(alice_ch, "after"))
        .await
        .unwrap();
    assert_eq!(next_matching(&mut stream, new_text).await, "after");

    // updateChannelTooLong while online: posts the mock never pushed are fetched.
    for i in 0..3 {
        dc.cluster()
            .world()
            .post_as_channel(channel, None, &format!("silent {i}"), 1)
            .unwrap();
    }
    let (status, body) = http(
        &url,
        "POST",
        "/v1/faults",
        &format!(r#"{{"channel_too_long":{{"user_id":{bob_id},"channel_id":{channel}}}}}"#),
    )
    .await;
    assert_eq!(
        (status, body["delivered"].as_i64()),
        (200, Some(1)),
        "{body}"
    );
    for i in 0..3 {
        assert_eq!(
            next_matching(&mut stream, new_text).await,
            format!("silent {i}")
        );
    }
    drop(stream);
    alice.disconnect();
    bob.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn a_channel_joined_on_another_device_arrives_through_channel_too_long() {
    let dc = start().await;
    let alice = connect(&dc, 2, None);
    let mut phone = connect(&dc, 2, None);
    let alice_id = create_and_login(&dc, &alice.client, "+15566001", "alice_j").await;
    let bob_id = create_and_login(&dc, &phone.client, "+15566002", "bob_j").await;
    // Bob's phone has its update state (from a message it received), then goes offline.
    let mut stream = phone
        .client
        .stream_updates(
            phone.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();
    within(
        alice
            .client
            .send_message(user_ref(&dc, alice_id, bob_id), "hi"),
    )
    .await
    .unwrap();
    assert_eq!(next_matching(&mut stream, new_text).await, "hi");
    stream.sync_update_state().await.unwrap();
    drop(stream);
    let session = phone.disconnect();
    // The phone's last state is from a while ago (instead of sleeping the test).
    {
        use grammers_session::types::UpdateState;
        use grammers_session::Session;
        let mut state = session.updates_state().await.unwrap();
        state.date -= 60;
        session
            .set_update_state(UpdateState::All(state))
            .await
            .unwrap();
    }

    // Bob joins a channel from his laptop (a second login) while the phone is away.
    let laptop = connect(&dc, 2, None);
    let token = within(laptop.client.request_login_code("+15566002", "x"))
        .await
        .unwrap();
    let code = dc
        .cluster()
        .world()
        .login_code("+15566002")
        .unwrap()
        .to_string();
    within(laptop.client.sign_in(&token, &code)).await.unwrap();
    let channel = create_channel(&alice.client, "Later", true).await;
    let link = invite_link(
        &within(
            alice
                .client
                .invoke(&tl::functions::messages::ExportChatInvite {
                    legacy_revoke_permanent: false,
                    request_needed: false,
                    peer: channel_ref(&dc, alice_id, channel).into(),
                    expire_date: None,
                    usage_limit: None,
                    title: None,
                    subscription_pricing: None,
                }),
        )
        .await
        .unwrap(),
    );
    within(
        laptop
            .client
            .invoke(&tl::functions::messages::ImportChatInvite {
                hash: hash_of(&link),
            }),
    )
    .await
    .unwrap();
    within(
        alice
            .client
            .send_message(channel_ref(&dc, alice_id, channel), "welcome"),
    )
    .await
    .unwrap();

    // The phone comes back: getDifference names the channel (updateChannelTooLong with the
    // pts of the join), and getChannelDifference brings its messages.
    let mut phone = connect(&dc, 2, Some(session));
    let mut stream = phone
        .client
        .stream_updates(
            phone.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: true },
        )
        .await
        .unwrap();
    assert_eq!(next_matching(&mut stream, new_text).await, "welcome");
    drop(stream);
    for c in [alice, phone, laptop] {
        c.disconnect();
    }
    dc.shutdown().await;
}
