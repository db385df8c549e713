//! `telegate serve`: loads the configuration, refuses to start without a master key (the
//! sandbox generates one and says so), opens the store, and runs the HTTP API until Ctrl-C or
//! SIGTERM.
//!
//! `--sandbox` is the first thing a new user runs: an in-process mock DC with a few users and a
//! bot, SQLite in a fresh temporary data directory, an admin token made up for the session, and
//! curl commands to try, all printed on stdout.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use telegate_api::config::{Config, Sources};
use telegate_api::{Server, ServerOptions};
use telegate_core::{Gateway, RuntimeConfig, TelegramTarget};
use telegate_mockdc::server::{MockDc, MockDcConfig};
use telegate_store::{MasterKey, VaultError};

#[derive(clap::Args, Debug, Default)]
pub struct ConfigArgs {
    /// TOML configuration file (also TELEGATE_CONFIG); see docs/configuration.md.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// sqlite://PATH?mode=rwc or postgres://USER@HOST/DB (default: SQLite in the data dir).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Directory for the SQLite database (default: the current directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Master key file (otherwise TELEGATE_MASTER_KEY or TELEGATE_MASTER_KEY_FILE).
    #[arg(long)]
    pub master_key_file: Option<PathBuf>,
    /// Any setting as KEY=VALUE (e.g. --set http.request_timeout_secs=60); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ConfigArgs {
    pub fn flags(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut flags = Vec::new();
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
            flags.push((k.trim().to_owned(), v.to_owned()));
        }
        if let Some(v) = &self.database_url {
            flags.push(("database_url".into(), v.clone()));
        }
        if let Some(v) = &self.data_dir {
            flags.push(("data_dir".into(), v.display().to_string()));
        }
        if let Some(v) = &self.master_key_file {
            flags.push(("master_key_file".into(), v.display().to_string()));
        }
        Ok(flags)
    }

    pub fn load(&self, extra: Vec<(String, String)>) -> anyhow::Result<Config> {
        let mut flags = self.flags()?;
        flags.extend(extra);
        Ok(Config::load(&Sources::from_process(
            self.config.clone(),
            flags,
        ))?)
    }
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
    /// Control URL of a running mock DC (`telegate mock-dc`) to use instead of Telegram.
    #[arg(long)]
    pub mock_dc: Option<String>,
    /// Try it out: an in-process mock DC with a few users and a bot, SQLite in a temporary
    /// directory, a generated master key and admin token.
    #[arg(long)]
    pub sandbox: bool,
}

const NO_MASTER_KEY: &str = "no master key: telegate seals every Telegram session with it and \
will not start without one.\n  Set TELEGATE_MASTER_KEY to a base64 32-byte key, or \
TELEGATE_MASTER_KEY_FILE / --master-key-file / master_key_file to a key file.\n  Make one with: \
telegate keys generate --key-file /etc/telegate/master.key\n  Just trying telegate? Run: \
telegate serve --sandbox";

fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    Ok(hex::encode(b))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    if let Some(l) = &args.listen {
        extra.push(("listen".into(), l.clone()));
    }
    if let Some(m) = &args.mock_dc {
        extra.push(("mock_dc".into(), m.clone()));
    }
    // The sandbox's temporary directory lives as long as the server.
    let mut sandbox_dir: Option<tempfile::TempDir> = None;
    if args.sandbox && args.config.data_dir.is_none() && args.config.database_url.is_none() {
        let dir = tempfile::Builder::new()
            .prefix("telegate-sandbox-")
            .tempdir()?;
        extra.push(("data_dir".into(), dir.path().display().to_string()));
        sandbox_dir = Some(dir);
    }
    let config = args.config.load(extra).context("configuration")?;
    telegate_api::logging::init(&config.log);

    let mut notes = Vec::new();
    let master = match MasterKey::from_env_or_file(config.master_key_file.as_deref()) {
        Ok(k) => k,
        Err(VaultError::MasterKeyMissing) if args.sandbox => {
            std::fs::create_dir_all(&config.data_dir)?;
            let path = config.data_dir.join("master.key");
            let key = if path.exists() {
                MasterKey::from_file(&path)?
            } else {
                telegate_store::generate_master_key_file(&path)?
            };
            notes.push(format!(
                "sandbox: generated a master key into {} (fingerprint {}); keep it to reopen this data",
                path.display(),
                key.fingerprint()
            ));
            key
        }
        Err(VaultError::MasterKeyMissing) => bail!(NO_MASTER_KEY),
        Err(e) => return Err(e).context("loading the master key"),
    };

    let bootstrap = match std::env::var("TELEGATE_BOOTSTRAP_TOKEN") {
        Ok(t) if t.trim().len() >= 16 => Some(SecretString::from(t.trim().to_owned())),
        Ok(t) if !t.trim().is_empty() => {
            bail!("TELEGATE_BOOTSTRAP_TOKEN is too short: use at least 16 random characters")
        }
        _ if args.sandbox => Some(SecretString::from(format!("sandbox-{}", random_hex(16)?))),
        _ => None,
    };

    let mock = if args.sandbox && config.mock_dc.is_none() {
        let dc = MockDc::start(MockDcConfig {
            dcs: 2,
            port: 0,
            ..Default::default()
        })
        .await
        .context("starting the sandbox's mock DC")?;
        seed_sandbox(&dc)?;
        Some(dc)
    } else {
        None
    };

    // Which Telegram: the sandbox's mock, --mock-dc / mock_dc, TELEGATE_MOCK_DC, or real
    // Telegram with TELEGRAM_API_ID / TELEGRAM_API_HASH (refused with a message when missing).
    let target = match (&mock, &config.mock_dc) {
        (Some(dc), _) => TelegramTarget::mock(&dc.ready_info().control_url),
        (None, Some(url)) => TelegramTarget::mock(url),
        (None, None) => TelegramTarget::from_env(),
    }
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let url = config.effective_database_url();
    let store = telegate_store::open(&url, master)
        .await
        .with_context(|| format!("opening the database ({})", redact_url(&url)))?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let runtime = Gateway::start(RuntimeConfig::default(), Arc::clone(&store), target)
        .await
        .map_err(|e| anyhow::anyhow!("starting the account runtime: {}", e.message))?;
    let server = Server::new(ServerOptions {
        config: config.clone(),
        store: Arc::clone(&store),
        bootstrap_token: bootstrap.clone(),
        gateway: Some(runtime.clone()),
    })
    .await
    .map_err(|e| anyhow::anyhow!("starting the server: {}", e.error))?;

    let base = format!("http://{addr}");
    println!("telegate listening on {base}");
    for n in &notes {
        println!("{n}");
    }
    if args.sandbox {
        let token = bootstrap
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default();
        if let Some(dc) = &mock {
            println!("mock DC control API: {}", dc.ready_info().control_url);
            println!("  sandbox users: +15550100 (Alice, @alice_sandbox), +15550101 (Bob, @bob_sandbox, 2FA password \"sandbox\"), +15550102 (Carol), +9996621234 (Dave, login code 22222), bot @sandbox_bot");
            println!(
                "  login codes of the others: GET {}/v1/login-codes/<phone>",
                dc.ready_info().control_url
            );
        }
        if let Some(dir) = &sandbox_dir {
            println!("data directory (deleted on exit): {}", dir.path().display());
        }
        println!("admin token: {token}");
        println!();
        println!("Try:");
        println!("  export TOKEN={token}");
        println!("  curl -s {base}/readyz");
        println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/v1/token");
        println!(
            "  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' \
             -d '{{\"name\":\"my-app\",\"scopes\":[\"read\",\"write\"]}}' {base}/v1/tokens"
        );
        if mock.is_some() {
            // Log Dave in (account 1 in this fresh database) and send Alice a message.
            let post =
                "curl -s -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json'";
            println!("  {post} -d '{{\"phone\":\"+9996621234\"}}' {base}/v1/accounts");
            println!("  {post} -d '{{\"code\":\"22222\"}}' {base}/v1/accounts/1/login/code");
            println!(
                "  {post} -d '{{\"text\":\"Hello from telegate\"}}' {base}/v1/accounts/1/chats/@alice_sandbox/messages"
            );
        }
        println!("API reference: {base}/docs");
    }
    tracing::info!(%addr, "listening");
    server.run(listener, crate::shutdown_signal()).await?;
    // Drains in-flight Telegram calls, persists update state, disconnects.
    runtime.shutdown().await;
    store.close().await;
    if let Some(dc) = mock {
        dc.shutdown().await;
    }
    drop(sandbox_dir);
    Ok(())
}

/// A few users and a bot for the sandbox.
fn seed_sandbox(dc: &MockDc) -> anyhow::Result<()> {
    use telegate_mockdc::world::NewUser;
    let dcs = dc.ready_info().dcs.len() as i32;
    let mut world = dc.cluster().world();
    for (phone, first, username, password) in [
        ("+15550100", "Alice", Some("alice_sandbox"), None),
        ("+15550101", "Bob", Some("bob_sandbox"), Some("sandbox")),
        ("+15550102", "Carol", None, None),
        // A Telegram test number (99966XYYYY): its login code is the DC digit five times,
        // so the printed curl commands can log in without reading the code anywhere.
        ("+9996621234", "Dave", Some("dave_sandbox"), None),
    ] {
        world
            .create_user(
                NewUser {
                    phone: phone.into(),
                    first_name: first.into(),
                    last_name: None,
                    username: username.map(Into::into),
                    password: password.map(Into::into),
                    dc_id: phone.starts_with("+99966").then_some(2),
                },
                dcs,
            )
            .map_err(|e| anyhow::anyhow!("sandbox user {phone}: {e}"))?;
    }
    world
        .create_bot("sandbox_bot", Some("Sandbox bot".into()), dcs)
        .map_err(|e| anyhow::anyhow!("sandbox bot: {e}"))?;
    Ok(())
}

/// `postgres://user:password@host/db` → without the password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
