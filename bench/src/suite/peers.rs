//! The contenders and their drivers: installing the peers (GramJS from npm, Telethon + cryptg
//! from PyPI) into the suite's cache directory from the lock/requirements files in
//! `bench/peers/`, and running one driver process per job.
//!
//! Every driver, whatever its language, is a child process that reads a JSON job file and
//! writes JSON lines on stdout (bench/README.md, "Driver protocol"). At each `phase` line the
//! harness samples the child's RSS from `/proc/<pid>/status` and then answers one line on its
//! stdin, so memory is measured the same way, from outside, for every contender.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Who is measured. Order is the table's column order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, clap::ValueEnum)]
pub enum Contender {
    /// telegate through its HTTP API.
    Telegate,
    /// grammers-client 0.11 called directly (what telegate is built on), with jemalloc, the
    /// allocator of the shipped telegate binary.
    Grammers,
    /// The same driver in a binary with glibc's malloc: the same-run baseline of that choice.
    GrammersGlibc,
    /// Telethon from PyPI with cryptg.
    Telethon,
    /// GramJS (npm `telegram`) with its default settings.
    Gramjs,
}

impl Contender {
    pub const ALL: [Contender; 5] = [
        Contender::Telegate,
        Contender::Grammers,
        Contender::GrammersGlibc,
        Contender::Telethon,
        Contender::Gramjs,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Contender::Telegate => "telegate",
            Contender::Grammers => "grammers",
            Contender::GrammersGlibc => "grammers-glibc",
            Contender::Telethon => "telethon",
            Contender::Gramjs => "gramjs",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Contender::Telegate => "telegate (HTTP API)",
            Contender::Grammers => "bare grammers",
            Contender::GrammersGlibc => "bare grammers, glibc malloc",
            Contender::Telethon => "Telethon+cryptg",
            Contender::Gramjs => "GramJS",
        }
    }
}

/// Where the installed peers are, and what was installed.
pub struct Installed {
    pub python: PathBuf,
    pub node_modules: PathBuf,
    pub versions: BTreeMap<String, String>,
}

fn sha_of(paths: &[&Path]) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for path in paths {
        hasher.update(std::fs::read(path).with_context(|| format!("read {}", path.display()))?);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Installs (or finds up to date) the peers the run needs. A peer that cannot be installed is
/// an error: the suite never reports a contender it could not run.
pub fn install(cache: &Path, peers_dir: &Path, want: &[Contender]) -> anyhow::Result<Installed> {
    std::fs::create_dir_all(cache)?;
    let mut versions = BTreeMap::new();
    let venv = cache.join("python");
    let python = venv.join("bin/python");
    if want.contains(&Contender::Telethon) {
        let requirements = peers_dir.join("python/requirements.txt");
        let interpreter = run(
            Command::new("python3").arg("--version"),
            "python3 --version (install python3 and python3-venv)",
        )?;
        let stamp = venv.join(".telegate-bench.sha256");
        let want_stamp = format!("{}-{interpreter}", sha_of(&[&requirements])?);
        let up_to_date =
            std::fs::read_to_string(&stamp).ok().as_deref() == Some(&want_stamp) && python.exists();
        if !up_to_date {
            eprintln!("installing Telethon + cryptg into {}", venv.display());
            let _ = std::fs::remove_dir_all(&venv);
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv (apt-get install python3-venv)",
            )?;
            run(
                Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--disable-pip-version-check",
                        "--quiet",
                        "-r",
                    ])
                    .arg(&requirements),
                "pip install -r bench/peers/python/requirements.txt",
            )?;
            std::fs::write(&stamp, &want_stamp)?;
        }
        let found = run(
            Command::new(&python).args([
                "-c",
                "import telethon, cryptg, importlib.metadata as m, sys; \
                 print(telethon.__version__, m.version('cryptg'), sys.version.split()[0])",
            ]),
            "import telethon and cryptg from the bench venv",
        )?;
        let mut parts = found.split_whitespace();
        versions.insert("Telethon".into(), parts.next().unwrap_or("?").into());
        versions.insert("cryptg".into(), parts.next().unwrap_or("?").into());
        versions.insert("Python".into(), parts.next().unwrap_or("?").into());
    }
    let node_dir = cache.join("node");
    let node_modules = node_dir.join("node_modules");
    if want.contains(&Contender::Gramjs) {
        let package = peers_dir.join("node/package.json");
        let lock = peers_dir.join("node/package-lock.json");
        let node = run(
            Command::new("node").arg("--version"),
            "node --version (install nodejs and npm)",
        )?;
        let stamp = node_dir.join(".telegate-bench.sha256");
        let want_stamp = format!("{}-{node}", sha_of(&[&package, &lock])?);
        let up_to_date = std::fs::read_to_string(&stamp).ok().as_deref() == Some(&want_stamp)
            && node_modules.join("telegram/package.json").exists();
        if !up_to_date {
            eprintln!("installing GramJS into {}", node_dir.display());
            std::fs::create_dir_all(&node_dir)?;
            std::fs::copy(&package, node_dir.join("package.json"))?;
            std::fs::copy(&lock, node_dir.join("package-lock.json"))?;
            run(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&node_dir),
                "npm ci for bench/peers/node",
            )?;
            std::fs::write(&stamp, &want_stamp)?;
        }
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(node_modules.join("telegram/package.json"))
                .context("GramJS is not installed")?,
        )?;
        versions.insert(
            "GramJS (npm telegram)".into(),
            manifest["version"].as_str().unwrap_or("?").into(),
        );
        versions.insert("Node.js".into(), node.trim_start_matches('v').into());
    }
    if want.contains(&Contender::Grammers) || want.contains(&Contender::GrammersGlibc) {
        versions.insert("grammers-client".into(), "0.11.0".into());
    }
    Ok(Installed {
        python,
        node_modules,
        versions,
    })
}

/// One `phase` line of a driver, with the RSS the harness read at that moment.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub rss_kib: u64,
    /// Since the driver process was spawned.
    pub at: Duration,
    pub event: Value,
    /// CPU of the driver's threads and of the mock DC's (`mockdc-server`) threads so far.
    pub client_cpu: Option<crate::stats::ThreadTimes>,
    pub mock_cpu: Option<crate::stats::ThreadTimes>,
}

pub struct DriverRun {
    pub result: Value,
    pub phases: Vec<Phase>,
}

impl DriverRun {
    pub fn phase(&self, name: &str) -> anyhow::Result<&Phase> {
        self.phases
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("the driver reported no {name:?} phase"))
    }
}

pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// The command that runs `contender`'s driver on `job_file`.
pub fn driver_command(
    contender: Contender,
    installed: &Installed,
    peers_dir: &Path,
    job_file: &Path,
) -> anyhow::Result<Command> {
    let mut command = match contender {
        Contender::Telethon => {
            let mut c = Command::new(&installed.python);
            c.arg(peers_dir.join("python/telethon_driver.py"));
            c
        }
        Contender::Gramjs => {
            let mut c = Command::new("node");
            // --expose-gc: the driver collects garbage before RSS is read, as Telethon's does.
            c.arg("--expose-gc")
                .arg(peers_dir.join("node/gramjs_driver.js"))
                .env("NODE_PATH", &installed.node_modules);
            c
        }
        Contender::Grammers => {
            let mut c = Command::new(std::env::current_exe()?);
            c.arg("peer-grammers");
            c
        }
        Contender::GrammersGlibc => Command::new(system_alloc_driver()?),
        Contender::Telegate => bail!("telegate is driven over HTTP, not by a driver process"),
    };
    command.arg(job_file);
    Ok(command)
}

/// `peer-grammers-system-alloc` beside this binary; under `cargo run`, built first with the same
/// profile (a no-op when up to date: `cargo run` builds only the binary it runs).
fn system_alloc_driver() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let binary = exe.with_file_name("peer-grammers-system-alloc");
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = exe
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n == "release");
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "-q",
            "-p",
            "telegate-bench",
            "--bin",
            "peer-grammers-system-alloc",
        ]);
        if release {
            build.arg("--release");
        }
        let status = build.stdin(Stdio::null()).status()?;
        if !status.success() {
            bail!("building peer-grammers-system-alloc failed ({status})");
        }
    }
    if !binary.exists() {
        bail!(
            "no {} (cargo build -p telegate-bench --bins)",
            binary.display()
        );
    }
    Ok(binary)
}

/// Runs one driver to its result line; `log` receives its stderr. Fails (with the tail of that
/// log) on an error line, a non-zero exit, or `timeout`.
pub fn run_driver(
    mut command: Command,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<DriverRun> {
    let log_file = std::fs::File::create(log)?;
    let spawned = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("start {:?}", command.get_program()))?;
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let tail = || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    let deadline = spawned + timeout;
    let mut phases = Vec::new();
    let outcome = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(wait) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => break Err(anyhow::anyhow!("reading the driver's stdout: {e}")),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Err(anyhow::anyhow!("no result within {timeout:?}"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(anyhow::anyhow!("the driver exited without a result line"))
            }
        };
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            break Err(anyhow::anyhow!(
                "the driver wrote a non-JSON line: {line:?}"
            ));
        };
        match event["event"].as_str() {
            Some("phase") => {
                phases.push(Phase {
                    name: event["phase"].as_str().unwrap_or("?").to_string(),
                    rss_kib: rss_kib(pid)?,
                    at: spawned.elapsed(),
                    event: event.clone(),
                    client_cpu: crate::stats::process_times(pid),
                    mock_cpu: crate::stats::threads_times(crate::stats::SERVER_THREAD),
                });
                stdin.write_all(b"go\n")?;
                stdin.flush()?;
            }
            Some("result") => break Ok(event),
            Some("error") => {
                break Err(anyhow::anyhow!(
                    "failed at step {}: {}",
                    event["step"],
                    event["error"].as_str().unwrap_or("?")
                ))
            }
            _ => break Err(anyhow::anyhow!("unexpected driver line {line:?}")),
        }
    };
    drop(stdin);
    let result = match outcome {
        Ok(result) => {
            let status = child.wait()?;
            if !status.success() {
                Err(anyhow::anyhow!(
                    "the driver exited with {status} after its result"
                ))
            } else {
                Ok(DriverRun { result, phases })
            }
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    };
    result
        .map_err(|e| anyhow::anyhow!("{e:#}\n--- last lines of {} ---\n{}", log.display(), tail()))
}
