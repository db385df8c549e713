//! Whether this build can put telegate itself in the table. telegate is measured through its
//! HTTP API (`telegate serve`), as its users meet it; until the build has that command the suite
//! says so in every report instead of showing anything in its column.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

// `Available` is what `detect` answers once the suite has a telegate HTTP driver.
#[allow(dead_code)]
pub enum Availability {
    Available(PathBuf),
    Unavailable(String),
}

/// Finds the `telegate` binary (given, or beside this one, built with the same profile when the
/// suite runs under cargo) and asks it for `serve`.
pub fn detect(given: Option<&Path>) -> Availability {
    let binary = match given {
        Some(path) => path.to_path_buf(),
        None => match beside_this_binary() {
            Ok(path) => path,
            Err(reason) => return Availability::Unavailable(reason),
        },
    };
    let serve = Command::new(&binary)
        .args(["serve", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match serve {
        Ok(status) if status.success() => Availability::Unavailable(format!(
            "{} has `serve`, but this suite has no telegate HTTP driver yet (bench/src/suite/telegate.rs)",
            binary.display()
        )),
        Ok(_) => Availability::Unavailable(format!(
            "not available on this build: `{} serve` does not exist yet",
            binary.display()
        )),
        Err(e) => Availability::Unavailable(format!("cannot run {}: {e}", binary.display())),
    }
}

fn beside_this_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no directory for this binary")?;
    let binary = dir.join("telegate");
    if !binary.exists() {
        // Under `cargo run`, build it with the same profile (a no-op when up to date).
        if let Ok(cargo) = std::env::var("CARGO") {
            let release = dir.file_name().is_some_and(|n| n == "release");
            let mut build = Command::new(cargo);
            build.args(["build", "-q", "-p", "telegate"]);
            if release {
                build.arg("--release");
            }
            eprintln!("building the telegate binary ({})", dir.display());
            let _ = build.stdin(Stdio::null()).status();
        }
    }
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "not available on this build: no telegate binary at {}",
            binary.display()
        ))
    }
}
