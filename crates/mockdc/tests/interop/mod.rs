//! What the Telethon and GramJS interop tests share: where the repository is, whether the
//! interop environment is required, the ready file, and running a script with a hard timeout.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use telegate_mockdc::server::MockDc;

pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

pub fn interop_required() -> bool {
    ["CI", "TELEGATE_REQUIRE_INTEROP"].iter().any(|name| {
        std::env::var(name)
            .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
            .unwrap_or(false)
    })
}

pub fn write_ready_file(dc: &MockDc) -> PathBuf {
    let json = serde_json::to_string(dc.ready_info()).expect("serialize ready info");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let path = std::env::temp_dir().join(format!(
        "telegate-interop-ready-{}-{nanos}.json",
        std::process::id()
    ));
    std::fs::write(&path, format!("{json}\n")).expect("write ready file");
    path
}

pub struct ScriptRun {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ScriptRun {
    /// The last JSON line on stdout.
    pub fn result(&self) -> Option<Value> {
        self.stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
    }

    /// Asserts the script exited 0 with a JSON result line saying `"ok": true`; returns it.
    pub fn expect_ok(&self, script: &str) -> Value {
        assert!(self.success, "{script} failed: {}", self.describe());
        let result = self
            .result()
            .unwrap_or_else(|| panic!("no JSON result line: {}", self.describe()));
        assert_eq!(result["ok"], Value::Bool(true), "{}", self.describe());
        result
    }

    pub fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub async fn run_script(program: &Path, args: &[&std::ffi::OsStr], cwd: &Path) -> ScriptRun {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(out)) => ScriptRun {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("waiting for {}: {e}", program.display()),
        // Dropping the future drops the child, which kill_on_drop kills.
        Err(_) => panic!(
            "{} {:?} did not finish within {SCRIPT_TIMEOUT:?} (killed)",
            program.display(),
            args
        ),
    }
}
