//! `telegate tokens create/list/revoke`: API tokens, straight in the database (the gateway
//! need not run). A created token is printed once, alone on stdout, so scripts can capture it;
//! everything else goes to stderr. A running gateway stops accepting a revoked token within
//! `auth.token_cache_secs`.

use std::sync::Arc;

use anyhow::{bail, Context};
use secrecy::ExposeSecret;
use telegate_store::{MasterKey, Store, VaultError};

use crate::serve::ConfigArgs;

#[derive(clap::Subcommand, Debug)]
pub enum TokensCommand {
    /// Create a token; it is printed once.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// What it is for.
        #[arg(long)]
        name: String,
        /// admin, read, write or account:<id>; repeatable (e.g. --scope write --scope account:3).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Expires after this many days (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        config: ConfigArgs,
        id: i64,
    },
}

/// Opens the configured store (the master key is needed to open it).
pub async fn open_store(config: &ConfigArgs) -> anyhow::Result<Arc<dyn Store>> {
    let config = config.load(Vec::new()).context("configuration")?;
    let master = match MasterKey::from_env_or_file(config.master_key_file.as_deref()) {
        Ok(k) => k,
        Err(VaultError::MasterKeyMissing) => bail!(
            "no master key: set TELEGATE_MASTER_KEY or TELEGATE_MASTER_KEY_FILE, or pass \
             --master-key-file (the one `telegate serve` uses)"
        ),
        Err(e) => return Err(e).context("loading the master key"),
    };
    let url = config.effective_database_url();
    telegate_store::open(&url, master)
        .await
        .with_context(|| format!("opening the database ({})", crate::serve::redact_url(&url)))
}

pub async fn run(cmd: TokensCommand) -> anyhow::Result<()> {
    match cmd {
        TokensCommand::Create {
            config,
            name,
            scopes,
            expires_in_days,
        } => {
            let store = open_store(&config).await?;
            let expires_at =
                expires_in_days.map(|d| telegate_store::now_ms() + i64::from(d) * 86_400_000);
            let new = telegate_api::tokens::validate_new_token(
                store.as_ref(),
                &name,
                &scopes,
                expires_at,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.error.message))?;
            let (token, secret) = store.create_api_token(new, "cli").await?;
            eprintln!(
                "created token {} ({}) with scopes {}; it is shown once:",
                token.id,
                token.name,
                token.scopes.join(" ")
            );
            println!("{}", secret.expose_secret());
        }
        TokensCommand::List { config } => {
            let store = open_store(&config).await?;
            println!(
                "{:<6} {:<24} {:<14} {:<28} {:<10}",
                "ID", "NAME", "PREFIX", "SCOPES", "STATE"
            );
            for t in store.api_tokens().await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|e| e <= telegate_store::now_ms()) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<6} {:<24} {:<14} {:<28} {:<10}",
                    t.id,
                    t.name,
                    t.prefix,
                    t.scopes.join(" "),
                    state
                );
            }
        }
        TokensCommand::Revoke { config, id } => {
            let store = open_store(&config).await?;
            if !store.revoke_api_token(id, "cli").await? {
                bail!("no active token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}
