//! Interop: GramJS (Node, npm `telegram`) against the in-process mock DC.
//!
//! - `interop/node/gramjs_handshake.js`: TCP Full, real DH handshake (RSA_PAD) on DC 2, then
//!   help.getConfig, help.getNearestDc, ping and an unimplemented method.
//! - `interop/node/gramjs_wss.js`: WebSocket (`ws://127.0.0.1:PORT/apiws`) with a pre-shared key
//!   on DC 2, once with the Full transport inside the frames (GramJS' Node default) and once with
//!   obfuscated abridged (its browser default). See `interop/node/NOTES-wss.md`.
//! - `interop/node/gramjs_login_messaging.js`: GramJS speaks layer 198, so everything it gets
//!   must be encoded in layer 198: login with code (from the control API) + 2FA, getMe,
//!   sendMessage (layer-198 `messages.sendMessage`) to a username, and getMessages; the peer's
//!   own GramJS client receives the message as a pushed update.
//!
//! Needs `node` and `interop/node/node_modules` (`scripts/test` runs `npm ci`); without them the
//! tests are skipped, unless `CI` or `TELEGATE_REQUIRE_INTEROP` is set, in which case they fail.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use telegate_mockdc::server::{MockDc, MockDcConfig};

mod interop;

use interop::{interop_required, repo_root, run_script, write_ready_file};

struct NodeEnv {
    node: PathBuf,
    dir: PathBuf,
}

/// `Ok` if `node` runs and the interop dir has node_modules/telegram; `Err(reason)` otherwise.
fn find_node() -> Result<NodeEnv, String> {
    let dir = std::env::var_os("TELEGATE_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("interop/node"));
    let node = std::env::var_os("TELEGATE_NODE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"));
    let version = std::process::Command::new(&node)
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", node.display()))?;
    if !version.status.success() {
        return Err(format!("`{} --version` failed", node.display()));
    }
    if !dir.join("node_modules/telegram/package.json").exists() {
        return Err(format!(
            "{} has no node_modules/telegram (npm ci not run)",
            dir.display()
        ));
    }
    Ok(NodeEnv { node, dir })
}

/// Returns the Node environment, or `None` after printing why the test is skipped. Panics when
/// the interop environment is required.
fn node_or_skip(test: &str) -> Option<NodeEnv> {
    match find_node() {
        Ok(env) => Some(env),
        Err(reason) if interop_required() => panic!(
            "{test}: interop environment missing ({reason}); CI/TELEGATE_REQUIRE_INTEROP is set. \
             Run `scripts/test` (it installs Node.js and runs `npm ci` in interop/node)."
        ),
        Err(reason) => {
            eprintln!(
                "{test}: skipped: {reason}; run scripts/test to set up and run the interop tests"
            );
            None
        }
    }
}

fn dc_port(ready_path: &Path, id: u64) -> u64 {
    let ready: Value =
        serde_json::from_str(&std::fs::read_to_string(ready_path).expect("read ready file"))
            .expect("ready info is JSON");
    ready["dcs"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["id"].as_u64() == Some(id)))
        .and_then(|d| d["port"].as_u64())
        .unwrap_or_else(|| panic!("DC {id} missing from ready info {ready}"))
}

async fn start_mock() -> MockDc {
    MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .expect("start the mock DC")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gramjs_tcp_dh_handshake_getconfig() {
    let Some(env) = node_or_skip("gramjs_tcp_dh_handshake_getconfig") else {
        return;
    };
    let dc = start_mock().await;
    let ready_path = write_ready_file(&dc);
    let port = dc_port(&ready_path, 2);

    let script = env.dir.join("gramjs_handshake.js");
    let run = run_script(
        &env.node,
        &[script.as_os_str(), ready_path.as_os_str(), "2".as_ref()],
        &env.dir,
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);
    dc.shutdown().await;

    let result = run.expect_ok("gramjs_handshake.js");
    assert_eq!(result["client"], "gramjs");
    assert_eq!(result["dc"].as_u64(), Some(2));
    assert_eq!(result["port"].as_u64(), Some(port));
    assert_eq!(result["this_dc"].as_u64(), Some(2));
    assert_eq!(
        result["unimplemented_error"],
        "400 METHOD_NOT_IMPLEMENTED_IN_MOCK"
    );
    eprintln!("gramjs result: {result}");
}

async fn gramjs_wss(test: &str, transport: &str) {
    let Some(env) = node_or_skip(test) else {
        return;
    };
    let dc = start_mock().await;
    let key: [u8; 256] = dc.register_auth_key(2);
    let key_hex = hex::encode(key);
    let ready_path = write_ready_file(&dc);
    let port = dc_port(&ready_path, 2);

    let script = env.dir.join("gramjs_wss.js");
    let run = run_script(
        &env.node,
        &[
            script.as_os_str(),
            ready_path.as_os_str(),
            key_hex.as_ref(),
            "2".as_ref(),
            transport.as_ref(),
        ],
        &env.dir,
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);
    dc.shutdown().await;

    let result = run.expect_ok("gramjs_wss.js ({transport})");
    assert_eq!(result["client"], "gramjs-wss");
    assert_eq!(result["port"].as_u64(), Some(port));
    let variants = result["variants"].as_array().expect("variants array");
    assert_eq!(variants.len(), 1, "{}", run.describe());
    assert_eq!(variants[0]["transport"], transport);
    assert_eq!(variants[0]["ok"], Value::Bool(true), "{}", run.describe());
    assert_eq!(variants[0]["this_dc"].as_u64(), Some(2));
    eprintln!("gramjs wss result: {result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gramjs_wss_full_transport_preshared_key() {
    gramjs_wss("gramjs_wss_full_transport_preshared_key", "full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gramjs_wss_obfuscated_abridged_preshared_key() {
    gramjs_wss("gramjs_wss_obfuscated_abridged_preshared_key", "obfuscated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gramjs_layer198_login_2fa_send_and_read_history() {
    let Some(env) = node_or_skip("gramjs_layer198_login_2fa_send_and_read_history") else {
        return;
    };
    let dc = start_mock().await;
    let dcs = dc.ready_info().dcs.len() as i32;
    let (me_id, peer_id) = {
        let mut world = dc.cluster().world();
        let mut add = |phone: &str, first_name: &str, username: &str, password: Option<&str>| {
            world
                .create_user(
                    telegate_mockdc::world::NewUser {
                        phone: phone.into(),
                        first_name: first_name.into(),
                        username: Some(username.into()),
                        password: password.map(String::from),
                        dc_id: Some(2),
                        ..Default::default()
                    },
                    dcs,
                )
                .expect("create user")
                .id
        };
        (
            add(
                "+15550301",
                "Grace",
                "grace_gramjs",
                Some("gramjs 2fa secret"),
            ),
            add("+15550302", "Bob", "bob_gramjs", None),
        )
    };
    let ready_path = write_ready_file(&dc);

    let script = env.dir.join("gramjs_login_messaging.js");
    let run = run_script(
        &env.node,
        &[
            script.as_os_str(),
            ready_path.as_os_str(),
            "+15550301".as_ref(),
            "gramjs 2fa secret".as_ref(),
            "bob_gramjs".as_ref(),
            "+15550302".as_ref(),
        ],
        &env.dir,
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);

    let result = run.expect_ok("gramjs_login_messaging.js");
    assert_eq!(
        result["layer"].as_u64(),
        Some(198),
        "GramJS announces layer 198"
    );
    assert_eq!(result["code_requests"].as_u64(), Some(1), "{result}");
    assert_eq!(result["password_requests"].as_u64(), Some(1), "{result}");
    assert_eq!(result["me"]["id"], me_id.to_string());
    assert_eq!(result["me"]["phone"], "15550301");
    assert_eq!(result["me"]["username"], "grace_gramjs");
    assert_eq!(result["me"]["self"], Value::Bool(true));
    assert_eq!(result["peer"]["id"], peer_id.to_string());

    let sent_id = result["sent"]["id"].as_i64().expect("sent id");
    let text = result["sent"]["text"]
        .as_str()
        .expect("sent text")
        .to_string();
    let history = result["history"].as_array().expect("history");
    let found = history
        .iter()
        .find(|m| m["id"].as_i64() == Some(sent_id))
        .unwrap_or_else(|| panic!("sent message missing from history: {result}"));
    assert_eq!(found["text"], text.as_str());
    assert_eq!(found["out"], Value::Bool(true));
    assert_eq!(found["peer_user_id"], peer_id.to_string());
    // Bob's GramJS client, online meanwhile, got the message pushed (updates + updateNewMessage
    // with the users, encoded for its layer 198).
    let pushed = &result["peer_pushed"];
    assert_eq!(pushed["update"], "UpdateNewMessage", "{result}");
    assert_eq!(pushed["text"], text.as_str());
    assert_eq!(pushed["out"], Value::Bool(false));
    assert_eq!(pushed["from_user_id"], me_id.to_string());

    // The world saw the layer-198 sendMessage like any other: Bob has the message from Grace.
    {
        let world = dc.cluster().world();
        let theirs = world.search(
            peer_id,
            Some(telegate_mockdc::world::Peer::User(me_id)),
            &text,
            10,
        );
        assert_eq!(theirs.len(), 1, "Bob's copy of the message");
        assert_eq!((theirs[0].from, theirs[0].out), (me_id, false));
    }
    dc.shutdown().await;
    eprintln!("gramjs login/messaging result: {result}");
}
