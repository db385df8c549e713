//! Interop: Telethon (Python, PyPI `telethon`) against the in-process mock DC.
//!
//! Runs `interop/python/telethon_handshake.py`, which performs a real DH handshake (Telethon's old
//! RSA scheme) on DC 1 and DC 2 and then calls help.getConfig, help.getNearestDc, ping and an
//! unimplemented method. Needs the venv that `scripts/test` creates; without it the test is skipped,
//! unless `CI` or `TELEGATE_REQUIRE_INTEROP` is set, in which case it fails.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use telegate_mockdc::server::{MockDc, MockDcConfig};

mod interop;

use interop::{interop_required, repo_root, run_script, write_ready_file};

/// `Ok(python)` if the interpreter exists and imports telethon; `Err(reason)` otherwise.
fn find_python() -> Result<PathBuf, String> {
    let python = std::env::var_os("TELEGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if !python.exists() {
        return Err(format!("no Python interpreter at {}", python.display()));
    }
    let probe = std::process::Command::new(&python)
        .args(["-c", "import telethon"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !probe.status.success() {
        return Err(format!(
            "{} cannot import telethon: {}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(python)
}

/// Returns the interpreter, or `None` after printing why the test is skipped. Panics when the
/// interop environment is required.
fn python_or_skip(test: &str) -> Option<PathBuf> {
    match find_python() {
        Ok(python) => Some(python),
        Err(reason) if interop_required() => panic!(
            "{test}: interop environment missing ({reason}); CI/TELEGATE_REQUIRE_INTEROP is set. \
             Run `scripts/test` (it creates .venv and installs interop/python/requirements.txt)."
        ),
        Err(reason) => {
            eprintln!(
                "{test}: skipped: {reason}; run scripts/test to set up and run the interop tests"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telethon_dh_handshake_getconfig_ping_and_unimplemented() {
    let Some(python) = python_or_skip("telethon_dh_handshake_getconfig_ping_and_unimplemented")
    else {
        return;
    };
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .expect("start the mock DC");
    let ready_path = write_ready_file(&dc);
    let ready: Value =
        serde_json::from_str(&std::fs::read_to_string(&ready_path).expect("read ready file"))
            .expect("ready info is JSON");

    let script = repo_root().join("interop/python/telethon_handshake.py");
    let run = run_script(
        &python,
        &[script.as_os_str(), ready_path.as_os_str()],
        &repo_root(),
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);
    dc.shutdown().await;

    let result = run.expect_ok("telethon_handshake.py");
    assert_eq!(result["client"], "telethon");
    let dcs = result["dcs"].as_array().expect("dcs array");
    assert_eq!(dcs.len(), 2, "{}", run.describe());
    for (entry, expected_id) in dcs.iter().zip([1u64, 2]) {
        assert_eq!(
            entry["dc"].as_u64(),
            Some(expected_id),
            "{}",
            run.describe()
        );
        assert_eq!(entry["ok"], Value::Bool(true), "{}", run.describe());
        assert_eq!(entry["this_dc"].as_u64(), Some(expected_id));
        assert_eq!(
            entry["unimplemented_error"],
            "400 METHOD_NOT_IMPLEMENTED_IN_MOCK"
        );
        let port = ready["dcs"]
            .as_array()
            .and_then(|all| all.iter().find(|d| d["id"].as_u64() == Some(expected_id)))
            .and_then(|d| d["port"].as_u64())
            .expect("DC in ready info");
        assert_eq!(entry["port"].as_u64(), Some(port));
    }
    eprintln!("telethon result: {result}");
}

/// Issue 3 acceptance: Telethon logs in (code + 2FA, codes read from the control API), sends a
/// private message to a second Telethon client, and that client's `events.NewMessage` handler fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telethon_login_with_2fa_then_message_between_two_clients() {
    let Some(python) = python_or_skip("telethon_login_with_2fa_then_message_between_two_clients")
    else {
        return;
    };
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .expect("start the mock DC");
    let dcs = dc.ready_info().dcs.len() as i32;
    let create = |phone: &str, name: &str, username: &str, password: Option<&str>| -> i64 {
        dc.cluster()
            .world()
            .create_user(
                telegate_mockdc::world::NewUser {
                    phone: phone.into(),
                    first_name: name.into(),
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
    let (phone_a, user_a, password_a) = ("+15552001", "alice_tl", "correct horse battery");
    let (phone_b, user_b) = ("+15552002", "bob_tl");
    let id_a = create(phone_a, "Alice", user_a, Some(password_a));
    let id_b = create(phone_b, "Bob", user_b, None);
    let accounts = serde_json::json!({
        "dc_id": 2,
        "a": {"phone": phone_a, "user_id": id_a, "username": user_a, "password": password_a},
        "b": {"phone": phone_b, "user_id": id_b, "username": user_b, "password": null},
    })
    .to_string();

    let ready_path = write_ready_file(&dc);
    let script = repo_root().join("interop/python/telethon_messaging.py");
    let run = run_script(
        &python,
        &[
            script.as_os_str(),
            ready_path.as_os_str(),
            std::ffi::OsStr::new(&accounts),
        ],
        &repo_root(),
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);
    dc.shutdown().await;

    let result = run.expect_ok("telethon_messaging.py");
    assert_eq!(result["client"], "telethon");
    assert_eq!(result["dc"].as_u64(), Some(2));
    assert_eq!(result["a_id"].as_i64(), Some(id_a), "{}", run.describe());
    assert_eq!(result["b_id"].as_i64(), Some(id_b), "{}", run.describe());
    assert_eq!(result["resolved_b"]["id"].as_i64(), Some(id_b));
    assert_eq!(
        result["event"]["sender_id"].as_i64(),
        Some(id_a),
        "{}",
        run.describe()
    );
    assert!(
        result["event"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("hello from telethon")),
        "{}",
        run.describe()
    );
    assert!(
        result["b_history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|m| m["id"] == result["event"]["id"])),
        "{}",
        run.describe()
    );
    eprintln!("telethon messaging result: {result}");
}

/// Issue 4 acceptance: Telethon joins a broadcast channel by invite link (checkChatInvite,
/// importChatInvite), reads its history, receives a post made through the control API, and
/// gets USER_ALREADY_PARTICIPANT / CHAT_ADMIN_REQUIRED where Telegram gives them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telethon_joins_a_channel_by_invite_link() {
    let Some(python) = python_or_skip("telethon_joins_a_channel_by_invite_link") else {
        return;
    };
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .expect("start the mock DC");
    let dcs = dc.ready_info().dcs.len() as i32;
    let (owner, user, channel, link) = {
        let mut world = dc.cluster().world();
        let mut create = |phone: &str, name: &str| {
            world
                .create_user(
                    telegate_mockdc::world::NewUser {
                        phone: phone.into(),
                        first_name: name.into(),
                        dc_id: Some(2),
                        ..Default::default()
                    },
                    dcs,
                )
                .expect("create user")
                .id
        };
        let owner = create("+15552101", "Owner");
        let user = create("+15552102", "Reader");
        let (channel, _, _) = world
            .create_channel(
                owner,
                telegate_mockdc::world::chats::NewChannel {
                    title: "Mock News".into(),
                    broadcast: true,
                    ..Default::default()
                },
                1_700_000_000,
            )
            .expect("create channel");
        world
            .post_as_channel(channel, None, "welcome", 1_700_000_001)
            .expect("first post");
        let link = world
            .export_invite(
                owner,
                telegate_mockdc::world::Peer::Channel(channel),
                telegate_mockdc::world::invites::InviteOptions {
                    usage_limit: Some(10),
                    ..Default::default()
                },
                false,
                1_700_000_002,
            )
            .expect("invite link")
            .link();
        (owner, user, channel, link)
    };
    let scenario = serde_json::json!({
        "dc_id": 2, "phone": "+15552102", "user_id": user,
        "channel_id": channel, "title": "Mock News", "link": link, "first_post": "welcome",
    })
    .to_string();

    let ready_path = write_ready_file(&dc);
    let script = repo_root().join("interop/python/telethon_join_channel.py");
    let run = run_script(
        &python,
        &[
            script.as_os_str(),
            ready_path.as_os_str(),
            std::ffi::OsStr::new(&scenario),
        ],
        &repo_root(),
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);
    let (member, usage) = {
        let world = dc.cluster().world();
        (
            world.channel(channel).is_some_and(|c| c.is_member(user)),
            world.invite(&link).map(|i| i.usage),
        )
    };
    dc.shutdown().await;

    let result = run.expect_ok("telethon_join_channel.py");
    assert_eq!(
        result["joined"]["channel_id"].as_i64(),
        Some(channel),
        "{}",
        run.describe()
    );
    assert_eq!(result["joined"]["result"], "ChatInviteJoinResultOk");
    assert!(result["history"]
        .as_array()
        .is_some_and(|h| h.iter().any(|t| t == "welcome")));
    assert!(result["event"]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("live post")));
    // Telethon turns the exact error names into these classes.
    assert_eq!(result["join_again"], "400 UserAlreadyParticipantError");
    assert_eq!(result["participants_error"], "400 ChatAdminRequiredError");
    assert!(member, "the world has the user in the channel");
    assert_eq!(usage, Some(1), "the join counted one use of the link");
    let _ = owner;
    eprintln!("telethon join result: {result}");
}

/// Issue 4 acceptance: Telethon uploads a 20 MB file (saveBigFilePart), sends it as a
/// document, downloads it back (upload.getFile) and gets an identical SHA-256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telethon_uploads_and_downloads_a_20_mb_file() {
    let Some(python) = python_or_skip("telethon_uploads_and_downloads_a_20_mb_file") else {
        return;
    };
    let dc = MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .expect("start the mock DC");
    let dcs = dc.ready_info().dcs.len() as i32;
    let user = dc
        .cluster()
        .world()
        .create_user(
            telegate_mockdc::world::NewUser {
                phone: "+15552201".into(),
                first_name: "Uploader".into(),
                dc_id: Some(2),
                ..Default::default()
            },
            dcs,
        )
        .expect("create user")
        .id;
    let size = 20 * 1024 * 1024;
    let scenario = serde_json::json!({
        "dc_id": 2, "phone": "+15552201", "user_id": user, "size": size,
    })
    .to_string();
    let ready_path = write_ready_file(&dc);
    let script = repo_root().join("interop/python/telethon_files.py");
    let run = run_script(
        &python,
        &[
            script.as_os_str(),
            ready_path.as_os_str(),
            std::ffi::OsStr::new(&scenario),
        ],
        &repo_root(),
    )
    .await;
    let _ = std::fs::remove_file(&ready_path);
    dc.shutdown().await;

    let result = run.expect_ok("telethon_files.py");
    assert_eq!(result["size"], size, "{}", run.describe());
    // Telethon picks 128 KiB parts below 100 MB (saveBigFilePart above 10 MB).
    assert_eq!(result["parts"], 160, "128 KiB parts: {}", run.describe());
    assert_eq!(result["document"]["size"], size);
    assert_eq!(result["document"]["dc_id"], 2);
    assert_eq!(
        result["sha256"].as_str().map(str::len),
        Some(64),
        "{}",
        run.describe()
    );
}
