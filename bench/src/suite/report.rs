//! What a suite run found: per-round values of every figure for every contender, the table
//! (stdout and `RESULTS.md`), the charts (`charts/*.svg`, drawn with plotters) and the smoke
//! checks. Everything in `RESULTS.md` is generated; analysis lives in bench/README.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use plotters::prelude::*;

use super::peers::Contender;
use super::Plan;
use crate::stats::Summary;

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub key: String,
    pub what: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    /// The x value of charts (concurrency, accounts).
    pub x: Option<usize>,
}

impl Figure {
    /// A row of the contenders' table (not a ceiling, restore or telegate-only figure).
    fn is_contenders(&self) -> bool {
        !["ceiling.", "restore.", "telegate."]
            .iter()
            .any(|p| self.key.starts_with(p))
    }
    pub fn send_rate(concurrency: usize) -> Self {
        Figure {
            key: format!("send.rate.{concurrency}"),
            what: format!("send throughput, {concurrency} in flight"),
            unit: "msg/s",
            higher_is_better: true,
            x: Some(concurrency),
        }
    }
    pub fn send_rate_per_cpu(concurrency: usize) -> Self {
        Figure {
            key: format!("send.per_cpu.{concurrency}"),
            what: format!("sends per client CPU-second, {concurrency} in flight"),
            unit: "msg",
            higher_is_better: true,
            x: None,
        }
    }
    /// `who` (client, mock DC) CPU `what` (busy, waiting: runnable without a core) during the
    /// throughput figure, % of one core.
    pub fn cpu(concurrency: usize, who: &str, what: &str) -> Self {
        Figure {
            key: format!("send.cpu.{concurrency}.{who}.{what}"),
            what: format!("{who} CPU {what}, {concurrency} in flight"),
            unit: "% core",
            higher_is_better: false,
            x: None,
        }
    }
    pub fn latency(which: &str) -> Self {
        Figure {
            key: format!("send.latency.{which}"),
            what: format!("send latency {which}, 1 in flight"),
            unit: "ms",
            higher_is_better: false,
            x: None,
        }
    }
    pub fn rss_per_account(n: usize) -> Self {
        Figure {
            key: format!("scale.rss_per_account.{n}"),
            what: format!("RSS per idle connected account, {n} accounts"),
            unit: "KiB",
            higher_is_better: false,
            x: Some(n),
        }
    }
    pub fn rss_total(n: usize) -> Self {
        Figure {
            key: format!("scale.rss_total.{n}"),
            what: format!("process RSS, {n} idle connected accounts"),
            unit: "MiB",
            higher_is_better: false,
            x: Some(n),
        }
    }
    pub fn connect_secs(n: usize) -> Self {
        Figure {
            key: format!("scale.connect.{n}"),
            what: format!("connect {n} accounts (in-process)"),
            unit: "s",
            higher_is_better: false,
            x: Some(n),
        }
    }
    pub fn startup_secs(n: usize) -> Self {
        Figure {
            key: format!("scale.startup.{n}"),
            what: format!("start-up: process start to {n} accounts connected"),
            unit: "s",
            higher_is_better: false,
            x: Some(n),
        }
    }
    pub fn restore_rate(backend: &str, n: usize) -> Self {
        Figure {
            key: format!("restore.rate.{backend}"),
            what: format!(
                "{backend}: sessions restored per second, {n} accounts (open + load_all_sessions)"
            ),
            unit: "sessions/s",
            higher_is_better: true,
            x: None,
        }
    }
    pub fn restore_secs(backend: &str, n: usize) -> Self {
        Figure {
            key: format!("restore.secs.{backend}"),
            what: format!("{backend}: start-up restore of {n} accounts' sessions"),
            unit: "s",
            higher_is_better: false,
            x: None,
        }
    }
    pub fn restore_open_ms(backend: &str) -> Self {
        Figure {
            key: format!("restore.open.{backend}"),
            what: format!(
                "{backend}: of which telegate_store::open (pool, migrations check, key ring)"
            ),
            unit: "ms",
            higher_is_better: false,
            x: None,
        }
    }
    pub fn restore_seed_secs(backend: &str, n: usize, peers: usize) -> Self {
        Figure {
            key: format!("restore.seed.{backend}"),
            what: format!("{backend}: seeding {n} accounts (2 DC keys, {peers} peers each) through the store API, once"),
            unit: "s",
            higher_is_better: false,
            x: None,
        }
    }
    fn telegate(key: String, what: String, unit: &'static str, higher_is_better: bool) -> Self {
        Figure {
            key: format!("telegate.{key}"),
            what,
            unit,
            higher_is_better,
            x: None,
        }
    }
    /// The gateway's added cost: telegate's latency minus bare grammers' in the same round.
    pub fn telegate_added_latency(which: &str) -> Self {
        Self::telegate(
            format!("added.{which}"),
            format!("send latency {which} added by the gateway (telegate HTTP − bare grammers, same round)"),
            "ms",
            false,
        )
    }
    pub fn telegate_upload(mb: usize) -> Self {
        Self::telegate(
            "upload".into(),
            format!("upload of {mb} MB random bytes: tus POST + one PATCH + POST …/messages with the upload"),
            "MB/s",
            true,
        )
    }
    pub fn telegate_download(mb: usize, parallel: usize) -> Self {
        Self::telegate(
            "download".into(),
            format!("download of the {mb} MB back: ranged GETs of …/media, {parallel} in flight"),
            "MB/s",
            true,
        )
    }
    pub fn telegate_upload_vs_pipe() -> Self {
        Self::telegate(
            "upload_vs_pipe".into(),
            "upload through the HTTP API / encrypted loopback pipe (same round)".into(),
            "%",
            true,
        )
    }
    pub fn telegate_http_cpu(concurrency: usize) -> Self {
        Self::telegate(
            format!("http_cpu.{concurrency}"),
            format!(
                "HTTP load generator CPU (reqwest, in the bench process), {concurrency} in flight"
            ),
            "% core",
            false,
        )
    }
    pub fn telegate_import_secs(n: usize) -> Self {
        Self::telegate(
            format!("import.{n}"),
            format!("{n} sessions imported over HTTP (32 at once) until all connected"),
            "s",
            false,
        )
    }
    pub fn telegate_rss_connected(n: usize) -> Self {
        Self::telegate(
            format!("rss_connected.{n}"),
            format!("RSS per account just connected (before the settle), {n} accounts"),
            "KiB",
            false,
        )
    }
    pub fn telegate_rss_restarted(n: usize) -> Self {
        Self::telegate(
            format!("rss_restarted.{n}"),
            format!("RSS per idle account after a restart from the database, {n} accounts (over the empty process's baseline)"),
            "KiB",
            false,
        )
    }
    pub fn telegate_rss_baseline(n: usize) -> Self {
        Self::telegate(
            format!("rss_baseline.{n}"),
            format!("RSS of `telegate serve` listening with an empty database (baseline of the {n}-account figures)"),
            "MiB",
            false,
        )
    }
    fn machine(key: &str) -> Self {
        let what = match key {
            "ceiling.encrypt" => "SHA-256 + AES-256-IGE encrypt, 512 KiB, one core",
            "ceiling.pipe" => "encrypted loopback pipe: encrypt -> TCP -> decrypt, 1 connection",
            _ => key,
        };
        Figure {
            key: key.to_string(),
            what: what.to_string(),
            unit: "MB/s",
            higher_is_better: true,
            x: None,
        }
    }
}

/// Figures other sessions measured for the peers on this machine (issue 8), for comparison.
const REFERENCE: &[(&str, Contender, f64)] = &[
    ("send.rate.64", Contender::Gramjs, 3_700.0),
    ("send.rate.64", Contender::Telethon, 13_900.0),
    ("send.rate.64", Contender::Grammers, 60_000.0),
    ("send.latency.p50", Contender::Gramjs, 0.89),
    ("send.latency.p50", Contender::Telethon, 0.41),
    ("send.latency.p50", Contender::Grammers, 0.12),
];

pub struct Report {
    plan: Plan,
    contenders: Vec<Contender>,
    figures: Vec<Figure>,
    values: BTreeMap<String, BTreeMap<Option<Contender>, Vec<f64>>>,
    pub versions: BTreeMap<String, String>,
    pub unavailable: Vec<(Contender, String)>,
    pub errors: Vec<String>,
    pub load_start: String,
    pub load_end: String,
    pub wall_secs: f64,
    /// A run of some scenarios or contenders only (`--only`, `--contenders`): its arguments. Such
    /// a run does not rewrite RESULTS.md but replaces (or appends) its own section there.
    pub partial: Option<String>,
    date: String,
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory}, Linux {kernel}")
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        // thousands separators
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 && ch != '-' {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Report {
    pub fn new(plan: &Plan, contenders: &[Contender]) -> Self {
        Report {
            plan: plan.clone(),
            contenders: contenders.to_vec(),
            figures: Vec::new(),
            values: BTreeMap::new(),
            versions: BTreeMap::new(),
            unavailable: Vec::new(),
            errors: Vec::new(),
            load_start: String::new(),
            load_end: String::new(),
            wall_secs: 0.0,
            partial: None,
            date: now_utc(),
        }
    }

    fn entry(&mut self, figure: Figure) -> &mut BTreeMap<Option<Contender>, Vec<f64>> {
        if !self.figures.iter().any(|f| f.key == figure.key) {
            self.figures.push(figure.clone());
        }
        self.values.entry(figure.key).or_default()
    }

    pub fn add(&mut self, figure: Figure, contender: Contender, value: f64) {
        self.entry(figure)
            .entry(Some(contender))
            .or_default()
            .push(value);
    }

    pub fn add_machine(&mut self, key: &str, value: f64) {
        self.entry(Figure::machine(key))
            .entry(None)
            .or_default()
            .push(value);
    }

    /// A figure of telegate's own store (the restore scenario), not of a contender.
    pub fn add_store(&mut self, figure: Figure, value: f64) {
        self.entry(figure).entry(None).or_default().push(value);
    }

    /// telegate's latency minus bare grammers', round by round (they alternate within a round).
    pub fn add_gateway_cost(&mut self) {
        for which in ["p50", "p99"] {
            let key = format!("send.latency.{which}");
            let Some(values) = self.values.get(&key) else {
                continue;
            };
            let (Some(t), Some(g)) = (
                values.get(&Some(Contender::Telegate)),
                values.get(&Some(Contender::Grammers)),
            ) else {
                continue;
            };
            let added: Vec<f64> = t.iter().zip(g).map(|(t, g)| t - g).collect();
            for v in added {
                self.add_store(Figure::telegate_added_latency(which), v);
            }
        }
    }

    fn summary(&self, key: &str, who: Option<Contender>) -> Option<Summary> {
        self.values
            .get(key)
            .and_then(|m| m.get(&who))
            .filter(|v| !v.is_empty())
            .map(|v| Summary::of(v))
    }

    fn cell(&self, key: &str, who: Option<Contender>) -> String {
        match self.summary(key, who) {
            Some(s) if s.min == s.max => fmt_value(s.median),
            Some(s) => format!(
                "{} ({}–{})",
                fmt_value(s.median),
                fmt_value(s.min),
                fmt_value(s.max)
            ),
            None => "–".into(),
        }
    }

    /// The Markdown table of the contenders' figures plus the ceilings, ratios and notes.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let peers: Vec<Contender> = self
            .contenders
            .iter()
            .copied()
            .filter(|c| *c != Contender::Telegate)
            .collect();
        let _ = write!(out, "| figure | unit |");
        for c in &self.contenders {
            let _ = write!(out, " {} |", c.label());
        }
        for p in &peers {
            let _ = write!(out, " telegate / {} |", p.label());
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "|---|---|{}",
            "---:|".repeat(self.contenders.len() + peers.len())
        );
        for f in self.figures.iter().filter(|f| f.is_contenders()) {
            let _ = write!(out, "| {} | {} |", f.what, f.unit);
            for c in &self.contenders {
                let _ = write!(out, " {} |", self.cell(&f.key, Some(*c)));
            }
            for p in &peers {
                let ratio = match (
                    self.summary(&f.key, Some(Contender::Telegate)),
                    self.summary(&f.key, Some(*p)),
                ) {
                    (Some(t), Some(p)) if p.median != 0.0 => format!("{:.2}", t.median / p.median),
                    _ => "n/a".into(),
                };
                let _ = write!(out, " {ratio} |");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
        if self.figures.iter().any(|f| f.key.starts_with("ceiling.")) {
            let _ = writeln!(out, "| raw ceiling (same run) | unit | median (min–max) |");
            let _ = writeln!(out, "|---|---|---:|");
            for f in self
                .figures
                .iter()
                .filter(|f| f.key.starts_with("ceiling."))
            {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    f.what,
                    f.unit,
                    self.cell(&f.key, None)
                );
            }
            let _ = writeln!(out);
        }
        if self.figures.iter().any(|f| f.key.starts_with("restore.")) {
            let _ = writeln!(
                out,
                "| telegate store: restore at start-up (same run) | unit | median (min–max) |"
            );
            let _ = writeln!(out, "|---|---|---:|");
            for f in self
                .figures
                .iter()
                .filter(|f| f.key.starts_with("restore."))
            {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    f.what,
                    f.unit,
                    self.cell(&f.key, None)
                );
            }
            let _ = writeln!(out);
        }
        if self.figures.iter().any(|f| f.key.starts_with("telegate.")) {
            let _ = writeln!(
                out,
                "| telegate (HTTP API): more figures (same run) | unit | median (min–max) |"
            );
            let _ = writeln!(out, "|---|---|---:|");
            for f in self
                .figures
                .iter()
                .filter(|f| f.key.starts_with("telegate."))
            {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    f.what,
                    f.unit,
                    self.cell(&f.key, None)
                );
            }
            let _ = writeln!(out);
        }
        for (c, why) in &self.unavailable {
            let _ = writeln!(
                out,
                "- **{}: {why}.** Its column and the ratios are empty.",
                c.label()
            );
        }
        for e in &self.errors {
            let _ = writeln!(out, "- error: {e}");
        }
        out
    }

    fn reference_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| figure | contender | this run (median) | issue 8's reference | ratio |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|");
        for (key, c, reference) in REFERENCE {
            let Some(s) = self.summary(key, Some(*c)) else {
                continue;
            };
            let what = self
                .figures
                .iter()
                .find(|f| f.key == *key)
                .map(|f| f.what.clone())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {what} | {} | {} | {} | {:.2} |",
                c.label(),
                fmt_value(s.median),
                fmt_value(*reference),
                s.median / reference
            );
        }
        out
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        if let Some(args) = &self.partial {
            return self.write_partial(dir, args);
        }
        let charts = dir.join("charts");
        std::fs::create_dir_all(&charts)?;
        self.chart(
            &charts.join("throughput-vs-concurrency.svg"),
            "send.rate.",
            "sends in flight",
            "messages/s",
            true,
        )?;
        self.chart(
            &charts.join("memory-vs-accounts.svg"),
            "scale.rss_total.",
            "idle connected accounts in one process",
            "process RSS (MiB)",
            false,
        )?;
        let mut md = String::new();
        let _ = writeln!(md, "# telegate benchmark results");
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "Generated by `cargo run --release -p telegate-bench -- suite{}`; do not edit by hand \
             (bench/README.md explains the setup and discusses the figures).",
            if self.plan.smoke { " --smoke" } else { "" }
        );
        let _ = writeln!(md);
        let _ = writeln!(md, "- date: {}", self.date);
        let _ = writeln!(md, "- machine: {}", machine());
        let _ = writeln!(
            md,
            "- load average (1, 5, 15 min): {} at the start, {} at the end; wall time {:.0} s",
            self.load_start, self.load_end, self.wall_secs
        );
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(md, "- versions: {}", versions.join(", "));
        let p = &self.plan;
        let _ = writeln!(
            md,
            "- plan: {} rounds (scale: {}), contenders alternating within each round; send: {} \
             accounts, {} s per concurrency, {} timed sequential sends; scale: {:?} accounts; \
             restore: {} accounts x {} peers; transfer (telegate): {} MB, {} ranged GETs in flight, {} rounds",
            p.rounds,
            p.scale_rounds,
            p.send_accounts,
            p.send_secs,
            p.latency_sends,
            p.scale_accounts,
            p.restore_accounts,
            p.restore_peers,
            p.transfer_bytes / 1_000_000,
            p.transfer_parallel,
            p.transfer_rounds
        );
        let _ = writeln!(md, "- cells: median of the rounds (min–max)");
        let _ = writeln!(md);
        md.push_str(&self.table());
        let _ = writeln!(md);
        let _ = writeln!(md, "## Against the figures issue 8 lists for the peers");
        let _ = writeln!(md);
        md.push_str(&self.reference_table());
        let _ = writeln!(md);
        let _ = writeln!(md, "## Charts");
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "![throughput vs concurrency](charts/throughput-vs-concurrency.svg)"
        );
        let _ = writeln!(md);
        let _ = writeln!(md, "![memory vs accounts](charts/memory-vs-accounts.svg)");
        std::fs::write(dir.join("RESULTS.md"), md)?;
        let raw = serde_json::json!({
            "plan": self.plan,
            "date": self.date,
            "versions": self.versions,
            "values": self.values.iter().map(|(k, m)| {
                (k.clone(), m.iter().map(|(c, v)| (c.map(|c| c.key()).unwrap_or("machine").to_string(), v.clone())).collect::<BTreeMap<_, _>>())
            }).collect::<BTreeMap<_, _>>(),
        });
        std::fs::write(dir.join("results.json"), serde_json::to_vec_pretty(&raw)?)?;
        Ok(())
    }

    /// A partial run's section of RESULTS.md, between markers naming its arguments: a rerun with
    /// the same arguments replaces it, a full run drops every section (it rewrites the file).
    fn write_partial(&self, dir: &Path, args: &str) -> anyhow::Result<()> {
        let path = dir.join("RESULTS.md");
        let begin = format!("<!-- partial run: {args} -->");
        let end = "<!-- end of partial run -->";
        let mut section = String::new();
        let _ = writeln!(section, "{begin}");
        let _ = writeln!(section, "## Partial run: `suite {args}`");
        let _ = writeln!(section);
        let _ = writeln!(
            section,
            "Generated by `cargo run --release -p telegate-bench -- suite {args}`; a rerun with the \
             same arguments replaces this section, a full run the whole file."
        );
        let _ = writeln!(section);
        let _ = writeln!(section, "- date: {}", self.date);
        let _ = writeln!(section, "- machine: {}", machine());
        let _ = writeln!(
            section,
            "- load average (1, 5, 15 min): {} at the start, {} at the end; wall time {:.0} s",
            self.load_start, self.load_end, self.wall_secs
        );
        let p = &self.plan;
        let _ = writeln!(
            section,
            "- plan: {} rounds (scale: {}); scale: {:?} accounts; restore: {} accounts x {} peers",
            p.rounds, p.scale_rounds, p.scale_accounts, p.restore_accounts, p.restore_peers
        );
        let _ = writeln!(section, "- cells: median of the rounds (min–max)");
        let _ = writeln!(section);
        section.push_str(&self.table());
        let _ = writeln!(section, "{end}");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let mut md = match (
            old.find(&begin),
            old.find(&begin)
                .and_then(|b| old[b..].find(end).map(|e| b + e)),
        ) {
            (Some(b), Some(e)) => {
                let rest = old[e + end.len()..].trim_start_matches('\n');
                format!("{}{section}{}", &old[..b], rest)
            }
            _ => {
                let mut md = old.trim_end().to_string();
                if !md.is_empty() {
                    md.push_str("\n\n");
                }
                md.push_str(&section);
                md
            }
        };
        if !md.ends_with('\n') {
            md.push('\n');
        }
        std::fs::write(path, md)?;
        Ok(())
    }

    /// A line chart of the figures whose key starts with `prefix`, x from `Figure::x`.
    fn chart(
        &self,
        path: &Path,
        prefix: &str,
        x_label: &str,
        y_label: &str,
        log_x: bool,
    ) -> anyhow::Result<()> {
        let mut series: Vec<(Contender, Vec<(f64, f64)>)> = Vec::new();
        for &c in &self.contenders {
            let points: Vec<(f64, f64)> = self
                .figures
                .iter()
                .filter(|f| f.key.starts_with(prefix))
                .filter_map(|f| Some((f.x? as f64, self.summary(&f.key, Some(c))?.median)))
                .collect();
            if !points.is_empty() {
                series.push((c, points));
            }
        }
        let xs = series.iter().flat_map(|(_, p)| p.iter().map(|p| p.0));
        let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let y_max = series
            .iter()
            .flat_map(|(_, p)| p.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        if series.is_empty() {
            root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
            return Ok(());
        }
        let colors = [RED, BLUE, GREEN, MAGENTA, CYAN];
        let draw = |x_range: std::ops::Range<f64>| -> anyhow::Result<()> {
            let mut chart = ChartBuilder::on(&root)
                .margin(20)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(x_range, 0.0..y_max * 1.1 + f64::EPSILON)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&|x| {
                    let x = if log_x { 2f64.powf(*x) } else { *x };
                    format!("{x:.0}")
                })
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for (i, (c, points)) in series.iter().enumerate() {
                let color = colors[i % colors.len()];
                let points: Vec<(f64, f64)> = points
                    .iter()
                    .map(|&(x, y)| (if log_x { x.log2() } else { x }, y))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .label(c.label())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        };
        if log_x {
            draw(x_min.log2() - 0.3..x_max.log2() + 0.3)?;
        } else {
            draw(0.0..x_max * 1.05)?;
        }
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// Smoke: every measured contender has every figure of every scenario that ran, and no
    /// send failed. A contender that did not run fails the smoke run loudly.
    pub fn check_smoke(&self, measured: &[Contender]) -> anyhow::Result<()> {
        if !self.errors.is_empty() {
            bail!("smoke: errors during the run:\n{}", self.errors.join("\n"));
        }
        for f in self.figures.iter().filter(|f| f.is_contenders()) {
            for c in measured {
                let s = self
                    .summary(&f.key, Some(*c))
                    .with_context(|| format!("smoke: {} has no {:?} figure", c.label(), f.what))?;
                if !s.median.is_finite() || s.median < 0.0 {
                    bail!("smoke: {} {:?} is {}", c.label(), f.what, s.median);
                }
            }
        }
        for f in self.figures.iter().filter(|f| !f.is_contenders()) {
            let s = self.summary(&f.key, None).context("ceiling")?;
            // The gateway's added latency is a difference: any finite value is a figure.
            if f.key.starts_with("telegate.added.") {
                if !s.median.is_finite() {
                    bail!("smoke: {:?} is {}", f.what, s.median);
                }
                continue;
            }
            if s.median <= 0.0 {
                bail!("smoke: ceiling {:?} is {}", f.what, s.median);
            }
        }
        eprintln!(
            "smoke: {} figures for {} contenders, all present",
            self.figures.len(),
            measured.len()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            smoke: true,
            rounds: 1,
            scale_rounds: 1,
            send_accounts: 1,
            concurrency: vec![1],
            send_secs: 0.1,
            latency_sends: 1,
            scale_accounts: vec![1],
            restore_accounts: 1,
            restore_peers: 1,
            ceiling_secs: 0.1,
            settle_secs: 0.1,
            transfer_bytes: 1,
            transfer_parallel: 1,
            transfer_rounds: 1,
        }
    }

    #[test]
    fn smoke_fails_when_a_contender_has_no_figure() {
        let measured = [Contender::Grammers, Contender::Telethon];
        let mut report = Report::new(&plan(), &measured);
        report.add_machine("ceiling.encrypt", 100.0);
        report.add(Figure::send_rate(1), Contender::Grammers, 10.0);
        let error = report.check_smoke(&measured).unwrap_err().to_string();
        assert!(error.contains("Telethon+cryptg has no"), "{error}");
        report.add(Figure::send_rate(1), Contender::Telethon, 5.0);
        report.check_smoke(&measured).unwrap();
        report.errors.push("GramJS: 3 failed sends".into());
        assert!(report.check_smoke(&measured).is_err());
    }

    #[test]
    fn table_shows_median_spread_and_no_ratio_without_telegate() {
        let contenders = [Contender::Telegate, Contender::Grammers];
        let mut report = Report::new(&plan(), &contenders);
        for v in [3.0, 1.0, 2.0] {
            report.add(Figure::latency("p50"), Contender::Grammers, v);
        }
        report
            .unavailable
            .push((Contender::Telegate, "not available on this build".into()));
        let table = report.table();
        assert!(table.contains("| 2.00 (1.00–3.00) |"), "{table}");
        assert!(table.contains("| n/a |"), "{table}");
        assert!(table.contains("not available on this build"), "{table}");
    }
}
