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

/// The faults in force.
#[derive(Debug, Default)]
pub struct Faults {
    specs: Vec<FaultSpec>,
    /// Remaining failures per MethodError spec index.
    remaining: HashMap<usize, u32>,
    /// Call times (unix ms) per (method, caller) for flood limits.
    calls: HashMap<(String, i64), VecDeque<u64>>,
}

impl Faults {
    pub fn add(&mut self, spec: FaultSpec) {
        if let FaultSpec::MethodError { count, .. } = &spec {
            self.remaining.insert(self.specs.len(), *count);
        }
        if matches!(spec, FaultSpec::DropNow { .. }) {
            // One-shot: the caller closes the connections; nothing stays in force.
            return;
        }
        self.specs.push(spec);
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

    /// The fault a call of `method` by `caller` (user id, or key id before login) meets now.
    pub fn on_call(&mut self, method: &str, caller: i64, now_ms: u64) -> Option<Fail> {
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
        for spec in &self.specs {
            let FaultSpec::FloodLimit { flood_limit } = spec else {
                continue;
            };
            if flood_limit.method != method {
                continue;
            }
            let window_ms = flood_limit.per_seconds * 1000;
            let calls = self.calls.entry((method.to_string(), caller)).or_default();
            while calls
                .front()
                .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
            {
                calls.pop_front();
            }
            if calls.len() >= flood_limit.max_calls as usize {
                let oldest = *calls.front().expect("non-empty");
                let wait_ms = window_ms - now_ms.saturating_sub(oldest);
                let seconds = wait_ms.div_ceil(1000).max(1);
                return Some(Fail::new(420, format!("FLOOD_WAIT_{seconds}")));
            }
            calls.push_back(now_ms);
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
            faults.on_call("messages.sendMessage", 1, 0),
            Some(Fail::new(420, "FLOOD_WAIT_7"))
        );
        assert_eq!(faults.list().len(), 1);
        assert!(faults.on_call("messages.getHistory", 1, 0).is_none());
        assert!(faults.on_call("messages.sendMessage", 1, 0).is_some());
        assert!(faults.on_call("messages.sendMessage", 1, 0).is_none());
        assert!(faults.list().is_empty());
    }

    #[test]
    fn flood_limit_answers_the_right_wait() {
        let mut faults = Faults::default();
        faults.add(serde_json::from_str(r#"{"flood_limit":{"method":"messages.sendMessage","per_seconds":10,"max_calls":3}}"#).unwrap());
        for t in [0, 1000, 2000] {
            assert!(faults.on_call("messages.sendMessage", 7, t).is_none());
        }
        // At t=4.5 s the oldest call (t=0) leaves the window at 10 s: wait 5.5 → 6 s.
        assert_eq!(
            faults.on_call("messages.sendMessage", 7, 4500),
            Some(Fail::new(420, "FLOOD_WAIT_6"))
        );
        // Another user is not affected.
        assert!(faults.on_call("messages.sendMessage", 8, 4500).is_none());
        assert!(faults.on_call("messages.sendMessage", 7, 10_000).is_none());
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
