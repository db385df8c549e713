//! The commands that act on a running gateway through its HTTP API: `login`, `accounts`,
//! `sessions`. The runtime (connections, logins in progress) lives in the `serve` process, so
//! these are thin clients of `/v1` with a token (`--token` / `TELEGATE_TOKEN`), exactly as an
//! application would be; problem answers are shown with their stable code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Clone)]
pub struct RemoteArgs {
    /// The gateway's base URL.
    #[arg(long, env = "TELEGATE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API token (admin for `login`, `sessions`, `accounts logout`).
    #[arg(long, env = "TELEGATE_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The phone number (international format); asked for when neither it nor --bot is given.
    #[arg(long)]
    pub phone: Option<String>,
    /// Log a bot in; its token is read from TELEGATE_BOT_TOKEN or asked for without echo.
    #[arg(long, conflicts_with_all = ["qr"])]
    pub bot: bool,
    /// Log in by QR code (drawn in the terminal) instead of a code: scan it with a logged-in app.
    #[arg(long)]
    pub qr: bool,
    /// A label for the account.
    #[arg(long)]
    pub label: Option<String>,
    /// How long to wait for a QR code to be accepted.
    #[arg(long, default_value_t = 300)]
    pub qr_timeout_secs: u64,
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// The accounts, with their state.
    List {
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// One account: state, health, home DC (JSON).
    Show {
        #[command(flatten)]
        remote: RemoteArgs,
        account: i64,
    },
    /// Log the account out of Telegram and forget it.
    Logout {
        #[command(flatten)]
        remote: RemoteArgs,
        account: i64,
    },
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// Import sessions made by Telethon, GramJS or Pyrogram: each becomes an account that
    /// connects without logging in again. Files hold a session string, or are Telethon
    /// `.session` files (`--format telethon-file`); `-` reads one string from stdin.
    Import {
        #[command(flatten)]
        remote: RemoteArgs,
        /// telethon, telethon-file, gramjs or pyrogram.
        #[arg(long)]
        format: String,
        /// A label for the imported accounts.
        #[arg(long)]
        label: Option<String>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print an account's session in another client's format (audited; the output is the
    /// account's whole authority: keep it secret).
    Export {
        #[command(flatten)]
        remote: RemoteArgs,
        account: i64,
        /// telethon, gramjs or pyrogram.
        #[arg(long)]
        format: String,
    },
}

/// A `/v1` client with the token and the problem+json handling.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(remote: &RemoteArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base: remote.url.trim_end_matches('/').to_owned(),
            token: remote.token.clone(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.base))?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let v: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let code = v["code"].as_str().unwrap_or("");
            let detail = v["detail"]
                .as_str()
                .or(v["title"].as_str())
                .unwrap_or("no details");
            bail!("{method} {path}: {status} {code}: {detail}");
        }
        Ok(v)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// A line from the terminal (or stdin when not a terminal, for scripts).
fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        bail!("{} is required", label.trim().trim_end_matches(':'));
    }
    Ok(line)
}

/// A secret: without echo on a terminal; a plain line from stdin otherwise (scripts).
fn prompt_secret(label: &str) -> anyhow::Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(label)?
    } else {
        eprint!("{label}");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        eprintln!();
        line
    };
    let value = value.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        bail!("{} is required", label.trim().trim_end_matches(':'));
    }
    Ok(value)
}

fn draw_qr(url: &str) -> anyhow::Result<()> {
    let code = qrcode::QrCode::new(url.as_bytes()).context("drawing the QR code")?;
    let art = code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build();
    eprintln!("{art}\nScan it in Telegram: Settings > Devices > Link Desktop Device ({url})");
    Ok(())
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.remote)?;
    let body = if args.bot {
        let token = match std::env::var("TELEGATE_BOT_TOKEN") {
            Ok(t) if !t.is_empty() => t,
            _ => prompt_secret("Bot token: ")?,
        };
        json!({"bot_token": token, "label": args.label})
    } else {
        let phone = match &args.phone {
            Some(p) => p.clone(),
            None => prompt("Phone number (international format): ")?,
        };
        json!({"phone": phone, "label": args.label})
    };
    let created = api.post("/v1/accounts", body).await?;
    let id = created["id"]
        .as_i64()
        .context("the gateway answered no account id")?;
    eprintln!("account {id} created");
    let mut step = created["login"].clone();
    if args.qr && step["step"] != "done" {
        step = api
            .post(&format!("/v1/accounts/{id}/login/qr"), json!({}))
            .await?;
    }
    loop {
        match step["step"].as_str().unwrap_or_default() {
            "code" => {
                let delivery = step["delivery"].as_str().unwrap_or("app");
                let code = prompt(&format!("Login code (sent by {delivery}): "))?;
                step = api
                    .post(
                        &format!("/v1/accounts/{id}/login/code"),
                        json!({ "code": code }),
                    )
                    .await?;
            }
            "password" => {
                let hint = step["hint"]
                    .as_str()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                let password = prompt_secret(&format!("2FA password{hint}: "))?;
                step = api
                    .post(
                        &format!("/v1/accounts/{id}/login/password"),
                        json!({ "password": password }),
                    )
                    .await?;
            }
            "qr" => {
                step =
                    wait_for_qr(&api, id, step, Duration::from_secs(args.qr_timeout_secs)).await?;
            }
            "done" => {
                let user = &step["user"];
                let name = user["username"]
                    .as_str()
                    .map(|u| format!("@{u}"))
                    .or_else(|| user["first_name"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                println!("logged in: account {id} is {name} (user {})", user["id"]);
                return Ok(());
            }
            other => bail!("unexpected login step {other:?}: {step}"),
        }
    }
}

/// Draws the QR code, redraws it when the gateway refreshes the token, and answers the next
/// step once another device accepted it (done, or password with 2FA).
async fn wait_for_qr(api: &Api, id: i64, step: Value, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    let mut shown = String::new();
    let mut current = step;
    loop {
        if let Some(url) = current["url"].as_str() {
            if url != shown {
                draw_qr(url)?;
                shown = url.to_owned();
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the QR code was not accepted within {} s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let account = api.get(&format!("/v1/accounts/{id}")).await?;
        let state = account["state"].as_str().unwrap_or_default();
        if state == "connected" || state == "connecting" {
            let user = json!({"id": account["user_id"], "first_name": account["phone"]});
            return Ok(json!({"step": "done", "user": user}));
        }
        let login = api.get(&format!("/v1/accounts/{id}/login")).await?;
        match login["login"]["step"].as_str() {
            Some("qr") => current = login["login"].clone(),
            Some(_) => return Ok(login["login"].clone()),
            None => {}
        }
    }
}

pub async fn accounts(cmd: AccountsCommand) -> anyhow::Result<()> {
    match cmd {
        AccountsCommand::List { remote } => {
            let api = Api::new(&remote)?;
            let mut cursor: Option<String> = None;
            println!(
                "{:>6}  {:<5}  {:<16}  {:<16}  {:>3}  LABEL",
                "ID", "KIND", "PHONE/BOT", "STATE", "DC"
            );
            loop {
                let path = match &cursor {
                    Some(c) => format!("/v1/accounts?limit=500&cursor={c}"),
                    None => "/v1/accounts?limit=500".to_owned(),
                };
                let page = api.get(&path).await?;
                for a in page["items"].as_array().into_iter().flatten() {
                    let who = a["phone"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| a["bot_id"].as_i64().map(|b| format!("bot {b}")))
                        .unwrap_or_default();
                    println!(
                        "{:>6}  {:<5}  {:<16}  {:<16}  {:>3}  {}",
                        a["id"],
                        a["kind"].as_str().unwrap_or_default(),
                        who,
                        a["state"].as_str().unwrap_or_default(),
                        a["home_dc"],
                        a["label"].as_str().unwrap_or_default()
                    );
                }
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => return Ok(()),
                }
            }
        }
        AccountsCommand::Show { remote, account } => {
            let v = Api::new(&remote)?
                .get(&format!("/v1/accounts/{account}"))
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        AccountsCommand::Logout { remote, account } => {
            Api::new(&remote)?
                .call(
                    reqwest::Method::DELETE,
                    &format!("/v1/accounts/{account}"),
                    None,
                )
                .await?;
            println!("account {account} logged out and forgotten");
            Ok(())
        }
    }
}

pub async fn sessions(cmd: SessionsCommand) -> anyhow::Result<()> {
    match cmd {
        SessionsCommand::Import {
            remote,
            format,
            label,
            files,
        } => {
            let api = Api::new(&remote)?;
            let binary = format.eq_ignore_ascii_case("telethon-file");
            let bar = (files.len() > 1).then(|| {
                let bar = indicatif::ProgressBar::new(files.len() as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "importing {bar:30} {pos}/{len} sessions ({eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let mut failed = 0;
            for file in &files {
                let session = if file.as_os_str() == "-" {
                    let mut s = String::new();
                    std::io::stdin().lock().read_line(&mut s)?;
                    s.trim().to_owned()
                } else if binary {
                    let bytes = std::fs::read(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                } else {
                    std::fs::read_to_string(file)
                        .with_context(|| format!("reading {}", file.display()))?
                        .trim()
                        .to_owned()
                };
                let answer = api
                    .post(
                        "/v1/sessions/import",
                        json!({"format": format, "session": session, "label": label}),
                    )
                    .await;
                let line = match answer {
                    Ok(v) => format!(
                        "{}: imported as account {} ({})",
                        file.display(),
                        v["id"],
                        v["state"].as_str().unwrap_or_default()
                    ),
                    Err(e) => {
                        failed += 1;
                        format!("{}: {e:#}", file.display())
                    }
                };
                match &bar {
                    // A hidden bar (stderr is not a terminal) prints nothing: print plainly.
                    Some(b) if !b.is_hidden() => b.println(line),
                    _ => println!("{line}"),
                }
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            eprintln!(
                "note: stop every other client using these sessions: Telegram kills a session \
                 used from two places at once (the account then shows unauthorized, \
                 AUTH_KEY_DUPLICATED)"
            );
            if failed > 0 {
                bail!("{failed} of {} sessions were not imported", files.len());
            }
            Ok(())
        }
        SessionsCommand::Export {
            remote,
            account,
            format,
        } => {
            let v = Api::new(&remote)?
                .post(
                    "/v1/sessions/export",
                    json!({"account": account, "format": format}),
                )
                .await?;
            eprintln!("this string is the account's whole authority: keep it secret");
            println!("{}", v["session"].as_str().unwrap_or_default());
            Ok(())
        }
    }
}
