//! Private messages and their updates through grammers-client 0.11: send, edit, delete,
//! forward, read, history and dialog paging, pushes while online, and getDifference catch-up.

mod common;

use std::time::Duration;

use common::{connect, create_and_login, within};
use grammers_client::update::Update;
use grammers_mtsender::UpdatesConfiguration;
use grammers_tl_types as tl;
use telegate_mockdc::server::{MockDc, MockDcConfig};

async fn next_message(
    stream: &mut grammers_client::client::UpdateStream,
) -> grammers_client::update::Message {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("an update within 20 s")
            .unwrap()
        {
            Update::NewMessage(m) => return m,
            _ => continue,
        }
    }
}

#[tokio::test]
async fn send_receive_edit_delete_forward_and_read() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let alice = connect(&dc, 2, None);
    let mut bob = connect(&dc, 2, None);
    let alice_id = create_and_login(&dc, &alice.client, "+15551001", "alice_u").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15551002", "bob_u").await;
    let mut bob_updates = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();

    let bob_peer = within(alice.client.resolve_username("bob_u"))
        .await
        .unwrap()
        .expect("bob resolves");
    assert_eq!(bob_peer.id().bare_id(), Some(bob_id));
    let bob_ref = bob_peer.to_ref().await.unwrap().unwrap();
    let sent = within(alice.client.send_message(bob_ref, "hello bob"))
        .await
        .unwrap();
    assert_eq!(sent.text(), "hello bob");

    // Bob, online, gets it pushed.
    let received = next_message(&mut bob_updates).await;
    assert_eq!(received.text(), "hello bob");
    assert!(!received.outgoing());
    assert_eq!(
        received.sender().and_then(|s| s.id().bare_id()),
        Some(alice_id)
    );

    // Edit, forward, read, delete.
    within(alice.client.edit_message(bob_ref, sent.id(), "hello, bob"))
        .await
        .unwrap();
    let history: Vec<String> = {
        let alice_ref = received.peer_ref().await.unwrap().expect("alice cached");
        let mut iter = bob.client.iter_messages(alice_ref);
        let mut texts = Vec::new();
        while let Some(m) = within(iter.next()).await.unwrap() {
            texts.push(m.text().to_string());
        }
        texts
    };
    assert_eq!(history, vec!["hello, bob"]);

    let alice_ref = received.peer_ref().await.unwrap().expect("alice cached");
    let forwarded = within(
        bob.client
            .forward_messages(alice_ref, &[received.id()], alice_ref),
    )
    .await
    .unwrap();
    assert_eq!(forwarded.len(), 1);
    assert!(forwarded[0].as_ref().unwrap().forward_header().is_some());

    within(bob.client.mark_as_read(alice_ref)).await.unwrap();
    let deleted = within(alice.client.delete_messages(bob_ref, &[sent.id()]))
        .await
        .unwrap();
    assert_eq!(deleted, 1);

    // The world agrees. grammers deletes with revoke, so bob's copy of the original went too:
    // each box holds the forward only.
    {
        let world = dc.cluster().world();
        let alice_box = world.mailbox(alice_id).unwrap();
        assert_eq!(alice_box.messages.len(), 1);
        assert!(alice_box
            .messages
            .values()
            .all(|m| m.fwd_from == Some((alice_id, sent.date().as_second() as i32))));
        let bob_box = world.mailbox(bob_id).unwrap();
        assert_eq!(bob_box.messages.len(), 1);
        assert!(bob_box
            .messages
            .values()
            .all(|m| m.out && m.fwd_from.is_some()));
        assert_eq!(
            bob_box.dialogs[&telegate_mockdc::world::Peer::User(alice_id)].unread_count,
            0
        );
    }
    drop(bob_updates);
    alice.disconnect();
    bob.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn random_id_dedup_and_history_paging_as_documented() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let alice = connect(&dc, 2, None);
    let bob = connect(&dc, 2, None);
    create_and_login(&dc, &alice.client, "+15552001", "alice_p").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15552002", "bob_p").await;
    let peer = within(alice.client.resolve_username("bob_p"))
        .await
        .unwrap()
        .unwrap();
    let hash = {
        let world = dc.cluster().world();
        world.access_hash(world.user_by_username("alice_p").unwrap().id, bob_id)
    };
    let input_peer = tl::enums::InputPeer::User(tl::types::InputPeerUser {
        user_id: bob_id,
        access_hash: hash,
    });
    let send = |text: &str, random_id: i64| tl::functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: input_peer.clone(),
        reply_to: None,
        message: text.into(),
        random_id,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    };
    // The same random_id twice: one message, the same id back.
    let first = within(alice.client.invoke(&send("once", 42)))
        .await
        .unwrap();
    let again = within(alice.client.invoke(&send("once", 42)))
        .await
        .unwrap();
    let id_of = |u: &tl::enums::Updates| match u {
        tl::enums::Updates::UpdateShortSentMessage(s) => s.id,
        other => panic!("expected updateShortSentMessage, got {other:?}"),
    };
    assert_eq!(id_of(&first), id_of(&again));
    for i in 2..=30 {
        within(alice.client.invoke(&send(&format!("m{i}"), 100 + i)))
            .await
            .unwrap();
    }
    // ids 1..=30 in alice's box; getHistory semantics.
    let history =
        |offset_id, add_offset, limit, max_id, min_id| tl::functions::messages::GetHistory {
            peer: input_peer.clone(),
            offset_id,
            offset_date: 0,
            add_offset,
            limit,
            max_id,
            min_id,
            hash: 0,
        };
    let ids = |m: tl::enums::messages::Messages| -> (Vec<i32>, Option<i32>) {
        match m {
            tl::enums::messages::Messages::Messages(m) => {
                (m.messages.iter().map(|m| m.id()).collect(), None)
            }
            tl::enums::messages::Messages::Slice(s) => {
                (s.messages.iter().map(|m| m.id()).collect(), Some(s.count))
            }
            other => panic!("{other:?}"),
        }
    };
    let page = ids(within(alice.client.invoke(&history(0, 0, 5, 0, 0)))
        .await
        .unwrap());
    assert_eq!(page, (vec![30, 29, 28, 27, 26], Some(30)));
    let page = ids(within(alice.client.invoke(&history(26, 0, 3, 0, 0)))
        .await
        .unwrap());
    assert_eq!(page.0, vec![25, 24, 23]);
    let page = ids(within(alice.client.invoke(&history(20, -3, 5, 0, 0)))
        .await
        .unwrap());
    assert_eq!(page.0, vec![22, 21, 20, 19, 18]);
    let page = ids(within(alice.client.invoke(&history(0, 0, 100, 10, 5)))
        .await
        .unwrap());
    assert_eq!(page.0, vec![9, 8, 7, 6]);

    // grammers' own iterator walks all 30, newest first.
    let mut iter = alice
        .client
        .iter_messages(peer.to_ref().await.unwrap().unwrap());
    let mut all = Vec::new();
    while let Some(m) = within(iter.next()).await.unwrap() {
        all.push(m.id());
    }
    assert_eq!(all, (1..=30).rev().collect::<Vec<_>>());
    alice.disconnect();
    bob.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn dialogs_page_newest_first() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let me = connect(&dc, 2, None);
    create_and_login(&dc, &me.client, "+15553000", "hub_user").await;
    let mut others = Vec::new();
    for i in 0..25 {
        let other = connect(&dc, 2, None);
        create_and_login(
            &dc,
            &other.client,
            &format!("+1555301{i:02}"),
            &format!("friend{i:02}"),
        )
        .await;
        let hub = within(other.client.resolve_username("hub_user"))
            .await
            .unwrap()
            .unwrap();
        within(
            other
                .client
                .send_message(hub.to_ref().await.unwrap().unwrap(), format!("hi from {i}")),
        )
        .await
        .unwrap();
        others.push(other);
    }
    let mut dialogs = me.client.iter_dialogs();
    let mut names = Vec::new();
    while let Some(d) = within(dialogs.next()).await.unwrap() {
        names.push(d.peer().name().unwrap_or_default().to_string());
    }
    let expected: Vec<String> = (0..25).rev().map(|i| format!("friend{i:02}")).collect();
    assert_eq!(names, expected);
    for o in others {
        o.disconnect();
    }
    me.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn offline_client_catches_up_500_messages_once_in_order() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let alice = connect(&dc, 2, None);
    let mut bob = connect(&dc, 2, None);
    create_and_login(&dc, &alice.client, "+15554001", "alice_o").await;
    create_and_login(&dc, &bob.client, "+15554002", "bob_o").await;
    let bob_ref = within(alice.client.resolve_username("bob_o"))
        .await
        .unwrap()
        .unwrap()
        .to_ref()
        .await
        .unwrap()
        .unwrap();

    // Bob is online for the first message, saves his update state, and goes away.
    let mut stream = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();
    within(alice.client.send_message(bob_ref, "before"))
        .await
        .unwrap();
    assert_eq!(next_message(&mut stream).await.text(), "before");
    stream.sync_update_state().await.unwrap();
    drop(stream);
    let session = bob.disconnect();

    for i in 0..500 {
        within(alice.client.send_message(bob_ref, format!("offline {i}")))
            .await
            .unwrap();
    }

    // Back online with the same session: grammers asks getDifference (in slices of 100).
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
    while texts.len() < 500 {
        texts.push(next_message(&mut stream).await.text().to_string());
    }
    let expected: Vec<String> = (0..500).map(|i| format!("offline {i}")).collect();
    assert_eq!(texts, expected);
    // Nothing more (no duplicates) once caught up: a fresh message is the next one seen.
    within(alice.client.send_message(bob_ref, "after"))
        .await
        .unwrap();
    assert_eq!(next_message(&mut stream).await.text(), "after");
    drop(stream);
    alice.disconnect();
    bob.disconnect();
    dc.shutdown().await;
}
