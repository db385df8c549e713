//! Fault injection (control API `/v1/faults`): scripted RPC errors, Telegram-like flood limits,
//! latency, bandwidth caps and dropped connections, so clients' error handling can be tested.
//!
//! RPC faults are applied by the dispatcher; latency, bandwidth and drops by the socket driver.

use std::collections::{HashMap, VecDeque};

use crate::world::Fail;

/// One fault as the control API takes it (exactly one field set).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum FaultSpec {
    /// The next `count` calls of `method` fail with `error` (`code` inferred unless given).
    MethodError {
        method: String,
        error: String,
        #[serde(default = "one")]
        count: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
    },
    /// At most `max_calls` calls of `method` per user in any `per_seconds` window; more answer
    /// FLOOD_WAIT_X with X the seconds until a call leaves the window.
    FloodLimit { flood_limit: FloodLimit },
    /// Added before every response.
    Latency { latency_ms: u64 },
    /// Per-connection cap on bytes sent to the client.
    Bandwidth { bandwidth_bytes_per_sec: u64 },
    /// `"now"`: every open connection is closed once.
    DropNow { drop_connections: String },
    /// Every open connection is closed every N seconds.
    DropEvery { drop_connections_every_secs: u64 },
    /// Pushes `updatesTooLong` to every online session of the user (one-shot).
    UpdatesTooLong { updates_too_long_for_user: i64 },
    /// Installs a named set of flood limits (`"telegram"`: see [`telegram_preset`]).
    FloodPreset { flood_preset: String },
    /// Pushes `updateChannelTooLong` for a channel to every online session of a member
    /// (one-shot): its clients must catch up with updates.getChannelDifference.
    ChannelTooLong { channel_too_long: ChannelTooLong },
}

/// See [`FaultSpec::ChannelTooLong`].
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTooLong {
    pub user_id: i64,
    pub channel_id: i64,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FloodLimit {
    pub method: String,
    pub per_seconds: u64,
    pub max_calls: u32,
    /// Whose window a call counts in: each caller's (`user`, the default), or each caller's
    /// per destination chat (`chat`: Telegram's "20 messages per minute to the same group").
    #[serde(default)]
    pub scope: FloodScope,
    /// Only calls to these kinds of destination count (default: every call of the method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<PeerKind>>,
}

/// See [`FloodLimit::scope`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloodScope {
    #[default]
    User,
    Chat,
}

/// A kind of destination, for [`FloodLimit::peers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerKind {
    /// A private chat.
    User,
    /// A basic group or a megagroup.
    Group,
    /// A broadcast channel.
    Channel,
}

/// The destination of a call, for rules scoped or filtered by chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodTarget {
    pub kind: PeerKind,
    /// The destination as a key: (0 user | 1 chat | 2 channel, id).
    pub key: (u8, i64),
}

/// Telegram's documented limits for sending (core.telegram.org/bots/faq#broadcasting-to-users
/// and the API's FLOOD_WAIT behaviour): about 30 messages per second per account, and 20
/// messages per minute to the same group. `POST /v1/faults {"flood_preset":"telegram"}`.
pub fn telegram_preset() -> Vec<FloodLimit> {
    let mut rules = Vec::new();
    for method in [
        "messages.sendMessage",
        "messages.sendMedia",
        "messages.sendMultiMedia",
        "messages.forwardMessages",
    ] {
        rules.push(FloodLimit {
            method: method.into(),
            per_seconds: 1,
            max_calls: 30,
            scope: FloodScope::User,
            peers: None,
        });
        rules.push(FloodLimit {
            method: method.into(),
            per_seconds: 60,
            max_calls: 20,
            scope: FloodScope::Chat,
            peers: Some(vec![PeerKind::Group, PeerKind::Channel]),
        });
    }
    rules
}

/// The error code Telegram uses for an error name.
pub fn code_for(error: &str) -> i32 {
    if error.starts_with("FLOOD_WAIT_")
        || error.starts_with("SLOWMODE_WAIT_")
        || error.starts_with("FLOOD_PREMIUM_WAIT_")
    {
        420
    } else if error.contains("_MIGRATE_") {
        303
    } else if error.starts_with("AUTH_KEY_")
        || error.starts_with("SESSION_")
        || error.starts_with("USER_DEACTIVATED")
    {
        401
    } else if error.ends_with("_FORBIDDEN") || error == "MESSAGE_AUTHOR_REQUIRED" {
        403
    } else if error.contains("INTERNAL")
        || error == "RPC_CALL_FAIL"
        || error.ends_with("_ERROR") && error.starts_with("INTERDC")
    {
        500
    } else {
        400
    }
}

/// Why a fault spec was refused.
pub fn validate(spec: &FaultSpec) -> Result<(), String> {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    match spec {
        FaultSpec::MethodError {
            method,
            error,
            count,
            ..
        } => {
            if !method.contains('.') {
                return Err(format!(
                    "method {method:?} must be a TL method name such as \"messages.sendMessage\""
                ));
            }
            if !name_ok(error) {
                return Err(format!(
                    "error {error:?} must be an RPC error name such as \"FLOOD_WAIT_7\""
                ));
            }
            if *count == 0 {
                return Err("count must be at least 1".into());
            }
        }
        FaultSpec::FloodLimit { flood_limit }
            if (flood_limit.per_seconds == 0 || flood_limit.max_calls == 0) =>
        {
            return Err(
                "flood_limit.per_seconds and flood_limit.max_calls must be at least 1".into(),
            );
        }
        FaultSpec::FloodLimit { flood_limit } if !flood_limit.method.contains('.') => {
            return Err(format!(
                "flood_limit.method {:?} must be a TL method name such as \"messages.sendMessage\"",
                flood_limit.method
            ));
        }
        FaultSpec::FloodPreset { flood_preset } if flood_preset != "telegram" => {
            return Err(format!(
                "flood_preset {flood_preset:?} is unknown; the presets are: \"telegram\""
            ));
        }
        FaultSpec::DropNow { drop_connections } if drop_connections != "now" => {
            return Err(format!(
                "drop_connections must be \"now\", got {drop_connections:?}"
            ));
        }
        FaultSpec::DropEvery {
            drop_connections_every_secs: 0,
        } => return Err("drop_connections_every_secs must be at least 1".into()),
        FaultSpec::Bandwidth {
            bandwidth_bytes_per_sec: 0,
        } => return Err("bandwidth_bytes_per_sec must be at least 1".into()),
        _ => {}
    }
    Ok(())
}

/// A flood window's key: (rule index, caller, destination when the rule is per chat).
type WindowKey = (usize, i64, Option<(u8, i64)>);

/// The faults in force.
#[derive(Debug, Default)]
pub struct Faults {
    specs: Vec<FaultSpec>,
    /// Remaining failures per MethodError spec index.
    remaining: HashMap<usize, u32>,
    /// Call times (unix ms) per flood window.
    calls: HashMap<WindowKey, VecDeque<u64>>,
}

impl Faults {
    pub fn add(&mut self, spec: FaultSpec) {
        if let FaultSpec::MethodError { count, .. } = &spec {
            self.remaining.insert(self.specs.len(), *count);
        }
        match spec {
            // One-shot: the caller closes the connections or pushes; nothing stays in force.
            FaultSpec::DropNow { .. }
            | FaultSpec::UpdatesTooLong { .. }
            | FaultSpec::ChannelTooLong { .. } => {}
            FaultSpec::FloodPreset { .. } => {
                for flood_limit in telegram_preset() {
                    self.specs.push(FaultSpec::FloodLimit { flood_limit });
                }
            }
            spec => self.specs.push(spec),
        }
    }

    /// Whether a flood rule for `method` needs the call's destination (per-chat scope or a
    /// destination filter), so the dispatcher decodes it only then.
    pub fn needs_target(&self, method: &str) -> bool {
        self.specs.iter().any(|s| {
            matches!(s, FaultSpec::FloodLimit { flood_limit }
                if flood_limit.method == method
                    && (flood_limit.scope == FloodScope::Chat || flood_limit.peers.is_some()))
        })
    }

    pub fn list(&self) -> Vec<FaultSpec> {
        self.specs
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                !matches!(s, FaultSpec::MethodError { .. })
                    || self.remaining.get(i).is_some_and(|r| *r > 0)
            })
            .map(|(i, s)| match s {
                FaultSpec::MethodError {
                    method,
                    error,
                    code,
                    ..
                } => FaultSpec::MethodError {
                    method: method.clone(),
                    error: error.clone(),
                    count: self.remaining[&i],
                    code: *code,
                },
                other => other.clone(),
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.specs.clear();
        self.remaining.clear();
        self.calls.clear();
    }

    /// The fault a call of `method` by `caller` (user id, or key id before login) to `target`
    /// (its destination chat, when a rule needs it) meets now.
    ///
    /// A refused call is not counted, as on Telegram; an allowed one counts in every window it
    /// falls in. FLOOD_WAIT_X says how long until the fullest window has room.
    pub fn on_call(
        &mut self,
        method: &str,
        caller: i64,
        target: Option<FloodTarget>,
        now_ms: u64,
    ) -> Option<Fail> {
        for (i, spec) in self.specs.iter().enumerate() {
            if let FaultSpec::MethodError {
                method: m,
                error,
                code,
                ..
            } = spec
            {
                if m == method {
                    if let Some(left) = self.remaining.get_mut(&i).filter(|left| **left > 0) {
                        *left -= 1;
                        return Some(Fail::new(
                            code.unwrap_or_else(|| code_for(error)),
                            error.clone(),
                        ));
                    }
                }
            }
        }
        let mut windows = Vec::new();
        let mut wait_ms = 0;
        for (index, spec) in self.specs.iter().enumerate() {
            let FaultSpec::FloodLimit { flood_limit } = spec else {
                continue;
            };
            if flood_limit.method != method {
                continue;
            }
            if let Some(kinds) = &flood_limit.peers {
                if !target.is_some_and(|t| kinds.contains(&t.kind)) {
                    continue;
                }
            }
            let chat = match flood_limit.scope {
                FloodScope::User => None,
                FloodScope::Chat => match target {
                    Some(t) => Some(t.key),
                    None => continue,
                },
            };
            let window_ms = flood_limit.per_seconds * 1000;
            let calls = self.calls.entry((index, caller, chat)).or_default();
            while calls
                .front()
                .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
            {
                calls.pop_front();
            }
            if calls.len() >= flood_limit.max_calls as usize {
                // The call fits once enough old calls left the window.
                let freeing = calls[calls.len() - flood_limit.max_calls as usize];
                wait_ms = wait_ms.max(window_ms - now_ms.saturating_sub(freeing));
            }
            windows.push((index, caller, chat));
        }
        if wait_ms > 0 {
            let seconds = wait_ms.div_ceil(1000).max(1);
            return Some(Fail::new(420, format!("FLOOD_WAIT_{seconds}")));
        }
        for window in windows {
            self.calls.entry(window).or_default().push_back(now_ms);
        }
        None
    }

    pub fn latency_ms(&self) -> u64 {
        self.specs
            .iter()
            .filter_map(|s| match s {
                FaultSpec::Latency { latency_ms } => Some(*latency_ms),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    pub fn bandwidth(&self) -> Option<u64> {
        self.specs
            .iter()
            .filter_map(|s| match s {
                FaultSpec::Bandwidth {
                    bandwidth_bytes_per_sec,
                } => Some(*bandwidth_bytes_per_sec),
                _ => None,
            })
            .min()
    }

    pub fn drop_every_secs(&self) -> Option<u64> {
        self.specs
            .iter()
            .filter_map(|s| match s {
                FaultSpec::DropEvery {
                    drop_connections_every_secs,
                } => Some(*drop_connections_every_secs),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_errors_count_down() {
        let mut faults = Faults::default();
        faults.add(
            serde_json::from_str(
                r#"{"method":"messages.sendMessage","error":"FLOOD_WAIT_7","count":2}"#,
            )
            .unwrap(),
        );
        assert_eq!(
            faults.on_call("messages.sendMessage", 1, None, 0),
            Some(Fail::new(420, "FLOOD_WAIT_7"))
        );
        assert_eq!(faults.list().len(), 1);
        assert!(faults.on_call("messages.getHistory", 1, None, 0).is_none());
        assert!(faults.on_call("messages.sendMessage", 1, None, 0).is_some());
        assert!(faults.on_call("messages.sendMessage", 1, None, 0).is_none());
        assert!(faults.list().is_empty());
    }

    #[test]
    fn flood_limit_answers_the_right_wait() {
        let mut faults = Faults::default();
        faults.add(serde_json::from_str(r#"{"flood_limit":{"method":"messages.sendMessage","per_seconds":10,"max_calls":3}}"#).unwrap());
        for t in [0, 1000, 2000] {
            assert!(faults.on_call("messages.sendMessage", 7, None, t).is_none());
        }
        // At t=4.5 s the oldest call (t=0) leaves the window at 10 s: wait 5.5 → 6 s.
        assert_eq!(
            faults.on_call("messages.sendMessage", 7, None, 4500),
            Some(Fail::new(420, "FLOOD_WAIT_6"))
        );
        // Another user is not affected.
        assert!(faults
            .on_call("messages.sendMessage", 8, None, 4500)
            .is_none());
        assert!(faults
            .on_call("messages.sendMessage", 7, None, 10_000)
            .is_none());
    }

    #[test]
    fn per_chat_rules_count_per_destination_and_refusals_do_not_count() {
        let mut faults = Faults::default();
        faults.add(serde_json::from_str(r#"{"flood_preset":"telegram"}"#).unwrap());
        let group = |id| {
            Some(FloodTarget {
                kind: PeerKind::Group,
                key: (1, id),
            })
        };
        let private = Some(FloodTarget {
            kind: PeerKind::User,
            key: (0, 5),
        });
        // 20 per minute to one group: the 21st waits for the first to leave the window.
        for i in 0..20u64 {
            assert!(faults
                .on_call("messages.sendMessage", 7, group(1), i * 2000)
                .is_none());
        }
        assert_eq!(
            faults.on_call("messages.sendMessage", 7, group(1), 45_000),
            Some(Fail::new(420, "FLOOD_WAIT_15"))
        );
        // Another group, a private chat and another user are not limited by that window.
        assert!(faults
            .on_call("messages.sendMessage", 7, group(2), 45_000)
            .is_none());
        assert!(faults
            .on_call("messages.sendMessage", 7, private, 45_100)
            .is_none());
        assert!(faults
            .on_call("messages.sendMessage", 8, group(1), 45_000)
            .is_none());
        // 30 per second per account, whatever the chat; the refused 31st did not count.
        for i in 0..28u64 {
            assert!(faults
                .on_call(
                    "messages.sendMessage",
                    9,
                    Some(FloodTarget {
                        kind: PeerKind::User,
                        key: (0, i as i64)
                    }),
                    100_000 + i
                )
                .is_none());
        }
        assert!(faults
            .on_call("messages.sendMessage", 9, group(3), 100_100)
            .is_none());
        assert!(faults
            .on_call("messages.sendMessage", 9, group(4), 100_200)
            .is_none());
        assert_eq!(
            faults.on_call("messages.sendMessage", 9, private, 100_500),
            Some(Fail::new(420, "FLOOD_WAIT_1"))
        );
        assert!(faults
            .on_call("messages.sendMessage", 9, private, 101_000)
            .is_none());
        assert!(faults.needs_target("messages.sendMessage"));
        assert!(!faults.needs_target("messages.getHistory"));
        let bad: FaultSpec = serde_json::from_str(r#"{"flood_preset":"strict"}"#).unwrap();
        assert!(validate(&bad).unwrap_err().contains("telegram"));
    }

    #[test]
    fn specs_are_validated_and_codes_inferred() {
        let bad: FaultSpec =
            serde_json::from_str(r#"{"method":"send","error":"X","count":1}"#).unwrap();
        assert!(validate(&bad).unwrap_err().contains("method"));
        assert!(serde_json::from_str::<FaultSpec>(r#"{"latency_ms":"slow"}"#).is_err());
        assert_eq!(code_for("PHONE_MIGRATE_4"), 303);
        assert_eq!(code_for("AUTH_KEY_UNREGISTERED"), 401);
        assert_eq!(code_for("PEER_ID_INVALID"), 400);
    }
}
