//! `telegate serve` as users run it: the master-key refusal, the sandbox with its printed curl
//! commands run through a shell as a new user would, and tokens made by the CLI against a
//! running server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn telegate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_telegate"));
    c.env_remove("TELEGATE_MASTER_KEY")
        .env_remove("TELEGATE_MASTER_KEY_FILE")
        .env_remove("TELEGATE_BOOTSTRAP_TOKEN")
        .env_remove("TELEGATE_CONFIG")
        .env_remove("DATABASE_URL")
        .env_remove("TELEGATE_MOCK_DC")
        .env_remove("TELEGRAM_API_ID")
        .env_remove("TELEGRAM_API_HASH")
        .env("RUST_BACKTRACE", "0")
        .env("TELEGATE_LOG", "warn");
    c
}

fn spawn(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn telegate");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines }
}

impl Running {
    /// Lines up to and including the first one containing `until`.
    fn read_until(&self, until: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no {until:?} line; got {out:#?}"));
            let done = line.contains(until);
            out.push(line);
            if done {
                return out;
            }
        }
    }
}

fn url_of(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("telegate listening on "))
        .expect("the URL line")
        .to_owned()
}

#[test]
fn serve_refuses_to_start_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = telegate()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no master key"), "{stderr}");
    assert!(stderr.contains("TELEGATE_MASTER_KEY"), "{stderr}");
    assert!(stderr.contains("telegate keys generate"), "{stderr}");
    assert!(stderr.contains("--sandbox"), "{stderr}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing was written"
    );
}

#[test]
fn the_sandbox_prints_commands_that_work() {
    let mut cmd = telegate();
    cmd.args(["serve", "--sandbox", "--listen", "127.0.0.1:0"]);
    let running = spawn(cmd);
    let lines = running.read_until("API reference");
    let text = lines.join("\n");
    assert!(text.contains("generated a master key"), "{text}");
    assert!(
        text.contains("mock DC control API: http://127.0.0.1:"),
        "{text}"
    );
    let url = url_of(&lines);
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("admin token: "))
        .expect("the token line")
        .to_owned();
    let export = lines
        .iter()
        .find(|l| l.trim_start().starts_with("export TOKEN="))
        .expect("the export line")
        .trim()
        .to_owned();
    let curls: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    // readyz, whoami, a token; then log the test-number user in and send a message.
    assert_eq!(curls.len(), 6, "{text}");
    // The README shows the same commands (for the default port) after its first command.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let first_sh = readme.split("```sh").nth(1).unwrap();
    let first_command = first_sh
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap();
    assert!(
        first_command.ends_with("serve --sandbox"),
        "README's first command: {first_command}"
    );
    for curl in &curls {
        let shown = curl.replace(&url, "http://127.0.0.1:8080");
        assert!(readme.contains(shown.trim()), "README lacks: {shown}");
    }
    let mut answers = Vec::new();
    for curl in curls {
        // As a new user would: pasted into a shell after the export line.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{export}\n{} --fail-with-body", curl.trim()))
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{curl}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
        assert!(v.get("code").is_none(), "{curl}: {v}");
        answers.push(v);
    }
    assert_eq!(answers[3]["id"], 1, "the first account: {}", answers[3]);
    assert_eq!(
        answers[4]["step"], "done",
        "logged in by code: {}",
        answers[4]
    );
    assert_eq!(answers[5]["text"], "Hello from telegate", "{}", answers[5]);
    assert!(answers[5]["id"].as_i64().unwrap() > 0);
    // The admin token really is admin; the docs page is served.
    let client = reqwest::blocking::Client::new();
    let r = client
        .get(format!("{url}/v1/tokens"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        client.get(format!("{url}/docs")).send().unwrap().status(),
        200
    );
}

#[test]
fn tokens_from_the_cli_work_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    let out = telegate()
        .args(["keys", "generate", "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let data = [
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--master-key-file",
        key.to_str().unwrap(),
    ];

    // Without Telegram's application credentials (or a mock DC) there is nothing to serve:
    // refused with the variables named, before the database is created.
    let out = telegate()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TELEGRAM_API_ID") && stderr.contains("TELEGATE_MOCK_DC"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".db")),
        "no database was created"
    );

    // A bootstrap token that is too short is refused.
    let out = telegate()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(data)
        .env("TELEGATE_BOOTSTRAP_TOKEN", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TELEGATE_BOOTSTRAP_TOKEN"));

    let mut cmd = telegate();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--set",
        "auth.token_cache_secs=1",
    ])
    .args(data)
    // Real Telegram's variables (nothing is dialled: there are no accounts).
    .env("TELEGRAM_API_ID", "12345")
    .env("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")
    .env("TELEGATE_BOOTSTRAP_TOKEN", "bootstrap-token-for-this-test");
    let running = spawn(cmd);
    let url = url_of(&running.read_until("listening on"));
    let client = reqwest::blocking::Client::new();
    let who = |token: &str| {
        client
            .get(format!("{url}/v1/token"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    assert_eq!(who("bootstrap-token-for-this-test").status(), 200);

    let out = telegate()
        .args([
            "tokens", "create", "--name", "crm", "--scope", "read", "--scope", "write",
        ])
        .args(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        token.starts_with("tgt_"),
        "the token alone on stdout: {token:?}"
    );
    let v: serde_json::Value = who(&token).json().unwrap();
    assert_eq!(v["scopes"], serde_json::json!(["read", "write"]));

    let out = telegate()
        .args(["tokens", "list"])
        .args(data)
        .output()
        .unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.contains("crm") && !list.contains(&token), "{list}");
    let id = v["id"].as_i64().unwrap().to_string();

    let out = telegate()
        .args(["tokens", "create", "--name", "x", "--scope", "sudo"])
        .args(data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sudo"));

    let out = telegate()
        .args(["tokens", "revoke", &id])
        .args(data)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        who(&token).status(),
        401,
        "revoked by the CLI: refused after the cache time"
    );
}

/// Runs `telegate <args>` against the server, feeding `answer(prompt)` to each prompt it
/// writes on stderr (prompts end without a newline, so stderr is read byte by byte).
fn interactive(
    args: &[&str],
    url: &str,
    token: &str,
    mut answer: impl FnMut(&str) -> Option<String>,
) -> (bool, String, String) {
    use std::io::{Read, Write};
    let mut child = telegate()
        .args(args)
        .env("TELEGATE_URL", url)
        .env("TELEGATE_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let mut err = Vec::new();
    let mut pending = String::new();
    let mut byte = [0u8; 1];
    while stderr.read(&mut byte).unwrap_or(0) == 1 {
        err.push(byte[0]);
        pending.push(byte[0] as char);
        if pending.ends_with(": ") {
            if let Some(a) = answer(&pending) {
                writeln!(stdin, "{a}").unwrap();
                stdin.flush().unwrap();
                pending.clear();
            }
        }
        if byte[0] == b'\n' {
            pending.clear();
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    (
        status.success(),
        out.join().unwrap(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// The CLI as an operator uses it against `telegate serve`: an interactive login with a code
/// and a 2FA password, the account list, a session exported and imported again as another
/// account that connects without logging in, and a logout.
#[test]
fn login_accounts_and_sessions_from_the_cli() {
    let mut cmd = telegate();
    cmd.args(["serve", "--sandbox", "--listen", "127.0.0.1:0"]);
    let running = spawn(cmd);
    let lines = running.read_until("API reference");
    let url = url_of(&lines);
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("admin token: "))
        .unwrap()
        .to_owned();
    let control = lines
        .iter()
        .find_map(|l| l.strip_prefix("mock DC control API: "))
        .unwrap()
        .to_owned();
    let client = reqwest::blocking::Client::new();

    // Bob has 2FA: phone (flag), code (read from the mock, as from the phone), password.
    let mut prompts = Vec::new();
    let (ok, out, err) = interactive(&["login", "--phone", "+15550101"], &url, &token, |p| {
        prompts.push(p.trim().to_owned());
        if p.contains("Login code") {
            let v: serde_json::Value = client
                .get(format!("{control}/v1/login-codes/+15550101"))
                .send()
                .unwrap()
                .json()
                .unwrap();
            Some(v["code"].as_str().expect("a pending code").to_owned())
        } else if p.contains("2FA password") {
            Some("sandbox".into())
        } else {
            None
        }
    });
    assert!(ok, "login failed: {err}");
    assert!(
        out.contains("logged in: account 1 is @bob_sandbox"),
        "{out}"
    );
    assert!(
        prompts.iter().any(|p| p.starts_with("Login code")),
        "{prompts:?}"
    );
    assert!(
        prompts.iter().any(|p| p.starts_with("2FA password")),
        "{prompts:?}"
    );
    assert!(
        !err.contains("sandbox\n"),
        "the password is not echoed: {err}"
    );

    // A wrong code is refused with the product's stable error code.
    let (ok, _, err) = interactive(&["login", "--phone", "+15550102"], &url, &token, |p| {
        p.contains("Login code").then(|| "00000".to_owned())
    });
    assert!(!ok);
    assert!(err.contains("PHONE_CODE_INVALID"), "{err}");

    let wait_connected = |id: i64| {
        for _ in 0..200 {
            let (ok, out, _) =
                interactive(&["accounts", "show", &id.to_string()], &url, &token, |_| {
                    None
                });
            if ok && out.contains("\"state\": \"connected\"") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("account {id} did not connect");
    };
    wait_connected(1);
    let (ok, out, _) = interactive(&["accounts", "list"], &url, &token, |_| None);
    assert!(ok);
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .expect(&out);
    assert!(
        row.contains("+15550101") && row.contains("connected"),
        "{out}"
    );

    // Export Bob's session for Telethon, stop account 1, import the string: account 3
    // (2 is the refused login) connects on the same key without a login.
    let (ok, exported, err) = interactive(
        &["sessions", "export", "1", "--format", "telethon"],
        &url,
        &token,
        |_| None,
    );
    assert!(ok, "{err}");
    assert!(err.contains("keep it secret"), "{err}");
    let exported = exported.trim().to_owned();
    assert!(
        exported.starts_with('1') && exported.len() > 300,
        "{exported}"
    );
    let r = client
        .post(format!("{url}/v1/accounts/1/stop"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bob.session.txt");
    std::fs::write(&file, &exported).unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "2AAAA").unwrap();
    let (ok, out, err) = interactive(
        &[
            "sessions",
            "import",
            "--format",
            "telethon",
            file.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        &url,
        &token,
        |_| None,
    );
    assert!(!ok, "one of the two files is bad");
    assert!(err.contains("1 of 2 sessions were not imported"), "{err}");
    let imported: i64 = out
        .lines()
        .find_map(|l| l.split("imported as account ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out} {err}"));
    assert!(
        out.contains("bad.txt") || err.contains("bad.txt"),
        "the bad file is named: {out} {err}"
    );
    wait_connected(imported);

    let (ok, out, err) = interactive(
        &["accounts", "logout", &imported.to_string()],
        &url,
        &token,
        |_| None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("logged out"), "{out}");
    let (_, out, _) = interactive(&["accounts", "list"], &url, &token, |_| None);
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with(&format!("{imported} "))),
        "{out}"
    );
}
