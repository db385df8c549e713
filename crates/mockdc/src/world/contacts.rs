//! Contacts and blocks: `contacts.importContacts` (with `retry_contacts` past a daily import
//! limit and `popular_invites` for phones not on Telegram), `getContacts` with Telegram's hash,
//! `addContact`, `deleteContacts`, `search`, `block` / `unblock`.
//!
//! A contact changes how its owner sees the user: the saved name, the phone number, and the
//! `contact` / `mutual_contact` flags. Phones imported before their owner signs up become
//! contacts as soon as an account has that phone.

use std::collections::{BTreeMap, VecDeque};

use super::peer::Peer;
use super::{normalize_phone, Fail, World};

/// Seconds in the rolling window of [`super::chats::Social::contact_imports_per_day`].
const IMPORT_WINDOW_SECS: i64 = 24 * 3600;

/// A saved contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
}

/// One user's address book and block list.
#[derive(Debug, Default, Clone)]
pub struct ContactBook {
    /// Contacts that are accounts, by user id.
    pub contacts: BTreeMap<i64, Contact>,
    /// Imported phones with no account yet, by normalized phone.
    pub pending: BTreeMap<String, Contact>,
    /// Blocked peers and when.
    pub blocked: BTreeMap<Peer, i32>,
    /// Times of recent imports (for the daily limit).
    imports: VecDeque<i64>,
}

/// One entry of contacts.importContacts.
#[derive(Debug, Clone)]
pub struct ContactInput {
    pub client_id: i64,
    pub phone: String,
    pub first_name: String,
    pub last_name: String,
}

/// What contacts.importContacts did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// (user id, client id) of phones that are accounts.
    pub imported: Vec<(i64, i64)>,
    /// (client id, how many users imported that phone) for phones not on Telegram.
    pub popular: Vec<(i64, i32)>,
    /// Client ids not imported because of the daily limit: the client retries later.
    pub retry: Vec<i64>,
}

/// Telegram's hash of a list of ids (core.telegram.org/api/offsets#hash-generation).
pub fn telegram_hash(ids: impl IntoIterator<Item = i64>) -> i64 {
    let mut hash: u64 = 0;
    for id in ids {
        hash ^= hash >> 21;
        hash ^= hash << 35;
        hash ^= hash >> 4;
        hash = hash.wrapping_add(id as u64);
    }
    hash as i64
}

impl World {
    fn book(&self, owner: i64) -> Option<&ContactBook> {
        self.social.contacts.get(&owner)
    }

    fn book_mut(&mut self, owner: i64) -> &mut ContactBook {
        self.social.contacts.entry(owner).or_default()
    }

    /// Phones imported before their account existed become contacts now.
    fn settle_pending(&mut self, owner: i64) {
        let Some(book) = self.social.contacts.get(&owner) else {
            return;
        };
        let found: Vec<(String, i64)> = book
            .pending
            .keys()
            .filter_map(|phone| self.by_phone.get(phone).map(|id| (phone.clone(), *id)))
            .collect();
        let book = self.book_mut(owner);
        for (phone, user) in found {
            if let Some(contact) = book.pending.remove(&phone) {
                book.contacts.insert(user, contact);
            }
        }
    }

    /// The contact `owner` saved for `user`, if any.
    pub fn contact(&self, owner: i64, user: i64) -> Option<&Contact> {
        self.book(owner)?.contacts.get(&user).or_else(|| {
            let phone = self.user(user)?.phone.as_ref()?;
            self.book(owner)?.pending.get(phone)
        })
    }

    pub fn is_mutual_contact(&self, a: i64, b: i64) -> bool {
        self.contact(a, b).is_some() && self.contact(b, a).is_some()
    }

    /// contacts.importContacts.
    pub fn import_contacts(&mut self, owner: i64, inputs: Vec<ContactInput>, now: i32) -> Imported {
        let limit = self.social.contact_imports_per_day;
        let mut result = Imported::default();
        {
            let book = self.book_mut(owner);
            while book
                .imports
                .front()
                .is_some_and(|t| now as i64 - t >= IMPORT_WINDOW_SECS)
            {
                book.imports.pop_front();
            }
        }
        for input in inputs {
            if self.book_mut(owner).imports.len() >= limit {
                result.retry.push(input.client_id);
                continue;
            }
            let Some(phone) = normalize_phone(&input.phone) else {
                continue;
            };
            self.book_mut(owner).imports.push_back(now as i64);
            let contact = Contact {
                first_name: input.first_name,
                last_name: input.last_name,
                phone: phone.clone(),
            };
            match self.by_phone.get(&phone).copied() {
                Some(user) if user != owner => {
                    self.book_mut(owner).contacts.insert(user, contact);
                    result.imported.push((user, input.client_id));
                }
                Some(_) => {}
                None => {
                    self.book_mut(owner).pending.insert(phone.clone(), contact);
                    let importers = self
                        .social
                        .contacts
                        .values()
                        .filter(|b| b.pending.contains_key(&phone))
                        .count() as i32;
                    result.popular.push((input.client_id, importers));
                }
            }
        }
        result
    }

    /// contacts.getContacts: (contact user id, mutual) sorted by id.
    pub fn contacts_of(&mut self, owner: i64) -> Vec<(i64, bool)> {
        self.settle_pending(owner);
        let ids: Vec<i64> = self
            .book(owner)
            .map(|b| b.contacts.keys().copied().collect())
            .unwrap_or_default();
        ids.into_iter()
            .map(|id| (id, self.contact(id, owner).is_some()))
            .collect()
    }

    /// The `hash` contacts.getContacts compares: saved_count (0), then the sorted contact ids.
    pub fn contacts_hash(&mut self, owner: i64) -> i64 {
        let ids: Vec<i64> = self
            .contacts_of(owner)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        telegram_hash(std::iter::once(0).chain(ids))
    }

    /// contacts.addContact.
    pub fn add_contact(
        &mut self,
        owner: i64,
        user: i64,
        first_name: &str,
        last_name: &str,
        phone: &str,
    ) -> Result<(), Fail> {
        if user == owner || self.user(user).is_none() {
            return Err(Fail::new(400, "CONTACT_ID_INVALID"));
        }
        if first_name.trim().is_empty() {
            return Err(Fail::new(400, "CONTACT_NAME_EMPTY"));
        }
        let phone = normalize_phone(phone)
            .or_else(|| self.user(user).and_then(|u| u.phone.clone()))
            .unwrap_or_default();
        self.book_mut(owner).contacts.insert(
            user,
            Contact {
                first_name: first_name.trim().to_string(),
                last_name: last_name.trim().to_string(),
                phone,
            },
        );
        Ok(())
    }

    /// contacts.deleteContacts: the ids that were contacts.
    pub fn delete_contacts(&mut self, owner: i64, users: &[i64]) -> Vec<i64> {
        self.settle_pending(owner);
        let book = self.book_mut(owner);
        users
            .iter()
            .copied()
            .filter(|u| book.contacts.remove(u).is_some())
            .collect()
    }

    /// contacts.search: (my_results: contacts and chats of the user matching, results: public
    /// users and channels matching by username), each at most `limit`.
    pub fn search_peers(
        &mut self,
        owner: i64,
        query: &str,
        limit: usize,
    ) -> (Vec<Peer>, Vec<Peer>) {
        self.settle_pending(owner);
        let q = query.trim_start_matches('@').to_lowercase();
        let limit = limit.clamp(1, 100);
        let name_matches = |name: &str| name.to_lowercase().contains(&q);
        let mut mine: Vec<Peer> = self
            .book(owner)
            .map(|b| {
                b.contacts
                    .iter()
                    .filter(|(id, c)| {
                        name_matches(&c.first_name)
                            || name_matches(&c.last_name)
                            || self
                                .user(**id)
                                .and_then(|u| u.username.as_deref())
                                .is_some_and(name_matches)
                    })
                    .map(|(id, _)| Peer::User(*id))
                    .collect()
            })
            .unwrap_or_default();
        for peer in self.chats_of(owner) {
            let title = match peer {
                Peer::Chat(id) => self.group(id).map(|g| g.title.as_str()),
                Peer::Channel(id) => self.channel(id).map(|c| c.title.as_str()),
                Peer::User(_) => None,
            };
            if title.is_some_and(name_matches) {
                mine.push(peer);
            }
        }
        mine.truncate(limit);
        let mut global: Vec<Peer> = self
            .users()
            .filter(|u| u.id != owner)
            .filter(|u| {
                u.username
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().starts_with(&q))
            })
            .map(|u| Peer::User(u.id))
            .chain(
                self.channels()
                    .filter(|c| {
                        c.username
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().starts_with(&q))
                    })
                    .map(|c| Peer::Channel(c.id)),
            )
            .filter(|p| !mine.contains(p))
            .collect();
        global.sort();
        global.truncate(limit);
        (mine, global)
    }

    /// contacts.block: true if it was not blocked before.
    pub fn block(&mut self, owner: i64, peer: Peer, now: i32) -> Result<bool, Fail> {
        if peer == Peer::User(owner) {
            return Err(Fail::new(400, "CONTACT_ID_INVALID"));
        }
        Ok(self.book_mut(owner).blocked.insert(peer, now).is_none())
    }

    /// contacts.unblock: true if it was blocked.
    pub fn unblock(&mut self, owner: i64, peer: Peer) -> bool {
        self.book_mut(owner).blocked.remove(&peer).is_some()
    }

    pub fn is_blocked(&self, owner: i64, peer: Peer) -> bool {
        self.book(owner)
            .is_some_and(|b| b.blocked.contains_key(&peer))
    }

    /// contacts.getBlocked: newest first, (page, total).
    pub fn blocked_of(&self, owner: i64, offset: usize, limit: usize) -> (Vec<(Peer, i32)>, usize) {
        let mut all: Vec<(Peer, i32)> = self
            .book(owner)
            .map(|b| b.blocked.iter().map(|(p, d)| (*p, *d)).collect())
            .unwrap_or_default();
        all.sort_by_key(|(p, d)| std::cmp::Reverse((*d, *p)));
        let total = all.len();
        (
            all.into_iter()
                .skip(offset)
                .take(limit.clamp(1, 100))
                .collect(),
            total,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{NewUser, WorldConfig};

    #[test]
    fn import_retry_pending_and_hash() {
        let mut world = World::new(WorldConfig::default());
        let mut add = |phone: &str| {
            world
                .create_user(
                    NewUser {
                        phone: phone.into(),
                        first_name: "X".into(),
                        ..Default::default()
                    },
                    2,
                )
                .unwrap()
                .id
        };
        let (me, bob, carol) = (add("15558000001"), add("15558000002"), add("15558000003"));
        world.social.contact_imports_per_day = 3;
        let input = |client_id, phone: &str| ContactInput {
            client_id,
            phone: phone.into(),
            first_name: format!("c{client_id}"),
            last_name: String::new(),
        };
        let result = world.import_contacts(
            me,
            vec![
                input(1, "+1 555 800 0002"),
                input(2, "15559999999"),
                input(3, "15558000003"),
                input(4, "15558000004"),
            ],
            100,
        );
        assert_eq!(result.imported, vec![(bob, 1), (carol, 3)]);
        assert_eq!(result.popular, vec![(2, 1)]);
        assert_eq!(result.retry, vec![4], "past the daily limit");
        assert_eq!(world.contact(me, bob).unwrap().first_name, "c1");
        assert!(!world.is_mutual_contact(me, bob));
        world.add_contact(bob, me, "Me", "", "").unwrap();
        assert!(world.is_mutual_contact(me, bob));

        // The hash of the list changes with it; a pending phone settles when it signs up.
        let before = world.contacts_hash(me);
        assert_eq!(before, world.contacts_hash(me));
        let dave = world
            .create_user(
                NewUser {
                    phone: "15559999999".into(),
                    first_name: "Dave".into(),
                    ..Default::default()
                },
                2,
            )
            .unwrap()
            .id;
        assert_eq!(world.contacts_of(me).len(), 3);
        assert_ne!(before, world.contacts_hash(me));
        assert_eq!(world.delete_contacts(me, &[dave, dave]), vec![dave]);
        assert_eq!(world.contacts_of(me), vec![(bob, true), (carol, false)]);
    }

    #[test]
    fn hash_matches_the_documented_algorithm() {
        // core.telegram.org/api/offsets: for each id, xor-shift the running hash, then add.
        assert_eq!(telegram_hash([]), 0);
        assert_eq!(telegram_hash([5]), 5);
        let h1: u64 = 1;
        let mut h = h1 ^ (h1 >> 21);
        h ^= h << 35;
        h ^= h >> 4;
        assert_eq!(telegram_hash([1, 2]), h.wrapping_add(2) as i64);
    }
}
