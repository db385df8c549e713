//! Contacts through grammers-client 0.11: import (with retry_contacts and popular invites),
//! list with Telegram's hash, add, delete, search, block and unblock.

mod common;

use common::{connect, connect_with, create_and_login, error_name, no_retries, user_ref, within};
use grammers_tl_types as tl;
use telegate_mockdc::server::{MockDc, MockDcConfig};

fn phone_contact(client_id: i64, phone: &str, first_name: &str) -> tl::enums::InputContact {
    tl::enums::InputContact::InputPhoneContact(tl::types::InputPhoneContact {
        client_id,
        phone: phone.into(),
        first_name: first_name.into(),
        last_name: "Saved".into(),
        note: None,
    })
}

fn users_by_id(users: &[tl::enums::User]) -> Vec<(i64, tl::types::User)> {
    users
        .iter()
        .filter_map(|u| match u {
            tl::enums::User::User(u) => Some((u.id, u.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn import_list_hash_add_delete_search_block() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    let alice = connect_with(&dc, 2, None, no_retries());
    let bob = connect(&dc, 2, None);
    let alice_id = create_and_login(&dc, &alice.client, "+15567001", "alice_k").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15567002", "bob_k").await;
    let carol_id = common::create_user(&dc, "+15567003", "carol_k");
    dc.cluster().world().social.contact_imports_per_day = 3;

    // Bob and Carol are accounts, one phone is not on Telegram, the fourth is over the limit.
    let tl::enums::contacts::ImportedContacts::Contacts(imported) = within(alice.client.invoke(
        &tl::functions::contacts::ImportContacts {
            contacts: vec![
                phone_contact(11, "+1 556 700 2", "Bobby"),
                phone_contact(12, "+15569999999", "Nobody"),
                phone_contact(13, "15567003", "Caz"),
                phone_contact(14, "+15567004", "Later"),
            ],
        },
    ))
    .await
    .unwrap();
    let pairs: Vec<(i64, i64)> = imported
        .imported
        .iter()
        .map(|i| match i {
            tl::enums::ImportedContact::Contact(i) => (i.user_id, i.client_id),
        })
        .collect();
    assert_eq!(pairs, vec![(bob_id, 11), (carol_id, 13)]);
    assert_eq!(imported.retry_contacts, vec![14]);
    assert!(matches!(
        imported.popular_invites.as_slice(),
        [tl::enums::PopularContact::Contact(p)] if p.client_id == 12 && p.importers == 1
    ));
    // The imported users come with the saved names, their phones and the contact flag.
    let users = users_by_id(&imported.users);
    let bob_seen = &users.iter().find(|(id, _)| *id == bob_id).unwrap().1;
    assert_eq!(
        (
            bob_seen.first_name.as_deref(),
            bob_seen.last_name.as_deref(),
            bob_seen.phone.as_deref(),
            bob_seen.contact,
            bob_seen.mutual_contact
        ),
        (Some("Bobby"), Some("Saved"), Some("15567002"), true, false)
    );

    // getContacts, then the same hash: contactsNotModified.
    let listed = within(
        alice
            .client
            .invoke(&tl::functions::contacts::GetContacts { hash: 0 }),
    )
    .await
    .unwrap();
    let tl::enums::contacts::Contacts::Contacts(listed) = listed else {
        panic!("expected contacts.contacts")
    };
    let ids: Vec<(i64, bool)> = listed
        .contacts
        .iter()
        .map(|c| match c {
            tl::enums::Contact::Contact(c) => (c.user_id, c.mutual),
        })
        .collect();
    assert_eq!(ids, vec![(bob_id, false), (carol_id, false)]);
    let hash = dc.cluster().world().contacts_hash(alice_id);
    assert!(matches!(
        within(
            alice
                .client
                .invoke(&tl::functions::contacts::GetContacts { hash })
        )
        .await
        .unwrap(),
        tl::enums::contacts::Contacts::NotModified
    ));

    // Bob adds Alice back: mutual. contacts.search finds Bob among Alice's contacts.
    within(bob.client.invoke(&tl::functions::contacts::AddContact {
        add_phone_privacy_exception: false,
        id: user_ref(&dc, bob_id, alice_id).into(),
        first_name: "Al".into(),
        last_name: String::new(),
        phone: String::new(),
        note: None,
    }))
    .await
    .unwrap();
    // The hash covers the ids only (as documented), so it is unchanged; ask afresh.
    assert_eq!(dc.cluster().world().contacts_hash(alice_id), hash);
    let tl::enums::contacts::Contacts::Contacts(listed) = within(
        alice
            .client
            .invoke(&tl::functions::contacts::GetContacts { hash: 0 }),
    )
    .await
    .unwrap() else {
        panic!("expected contacts.contacts")
    };
    assert!(listed
        .contacts
        .iter()
        .any(|c| matches!(c, tl::enums::Contact::Contact(c) if c.user_id == bob_id && c.mutual)));
    let tl::enums::contacts::Found::Found(found) =
        within(alice.client.invoke(&tl::functions::contacts::Search {
            broadcasts: false,
            bots: false,
            q: "bob".into(),
            limit: 10,
        }))
        .await
        .unwrap();
    assert_eq!(
        found.my_results,
        vec![tl::enums::Peer::User(tl::types::PeerUser {
            user_id: bob_id
        })]
    );
    assert_eq!(
        error_name(
            within(alice.client.invoke(&tl::functions::contacts::Search {
                broadcasts: false,
                bots: false,
                q: "".into(),
                limit: 10,
            }))
            .await
        ),
        "QUERY_TOO_SHORT"
    );

    // Delete Carol.
    within(
        alice
            .client
            .invoke(&tl::functions::contacts::DeleteContacts {
                id: vec![user_ref(&dc, alice_id, carol_id).into()],
            }),
    )
    .await
    .unwrap();
    assert_eq!(
        dc.cluster().world().contacts_of(alice_id),
        vec![(bob_id, true)]
    );

    // Block: Alice cannot write to Bob (YOU_BLOCKED_USER); Bob's messages do not reach her.
    let bob_peer: tl::enums::InputPeer = user_ref(&dc, alice_id, bob_id).into();
    within(alice.client.invoke(&tl::functions::contacts::Block {
        my_stories_from: false,
        id: bob_peer.clone(),
    }))
    .await
    .unwrap();
    assert_eq!(
        error_name(
            within(
                alice
                    .client
                    .send_message(user_ref(&dc, alice_id, bob_id), "hi")
            )
            .await
        ),
        "YOU_BLOCKED_USER"
    );
    within(
        bob.client
            .send_message(user_ref(&dc, bob_id, alice_id), "unheard"),
    )
    .await
    .unwrap();
    assert!(dc
        .cluster()
        .world()
        .mailbox(alice_id)
        .is_none_or(|b| b.messages.values().all(|m| m.text != "unheard")));
    let tl::enums::contacts::Blocked::Blocked(blocked) =
        within(alice.client.invoke(&tl::functions::contacts::GetBlocked {
            my_stories_from: false,
            offset: 0,
            limit: 10,
        }))
        .await
        .unwrap()
    else {
        panic!("expected contacts.blocked")
    };
    assert_eq!(blocked.blocked.len(), 1);
    within(alice.client.invoke(&tl::functions::contacts::Unblock {
        my_stories_from: false,
        id: bob_peer,
    }))
    .await
    .unwrap();
    within(
        alice
            .client
            .send_message(user_ref(&dc, alice_id, bob_id), "hi again"),
    )
    .await
    .unwrap();
    alice.disconnect();
    bob.disconnect();
    dc.shutdown().await;
}
