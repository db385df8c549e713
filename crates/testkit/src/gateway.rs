//! Starts the gateway's HTTP API in-process on a free port, on a fresh SQLite database in a
//! temporary directory, with an admin (bootstrap) token, so tests drive it over real HTTP.
//! [`TestGateway::restart`] stops it and starts it again on the same data (a new port), for
//! resumption tests.

use std::sync::Arc;

use secrecy::SecretString;
use telegate_api::{Config, EventBell, Server, ServerOptions};
use telegate_store::{MasterKey, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running gateway.
pub struct TestGateway {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Accepted as admin (the bootstrap token).
    pub admin_token: String,
    pub store: Arc<dyn Store>,
    pub bell: EventBell,
    pub config: Config,
    dir: Arc<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A configuration suited to tests: quick polls and retries, quiet logs.
pub fn test_config() -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    config.log.requests = false;
    config.events.poll_interval_ms = 100;
    config.webhooks.poll_interval_ms = 50;
    config.webhooks.initial_backoff_ms = 100;
    config.webhooks.max_backoff_ms = 1_000;
    config.webhooks.request_timeout_secs = 5;
    config
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        Self::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> TestGateway {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).expect("random");
        let admin_token = format!("test-bootstrap-{}", hex::encode(token));
        telegate_store::generate_master_key_file(&dir.path().join("master.key"))
            .expect("master key");
        Self::launch(dir, admin_token, config).await
    }

    async fn launch(
        dir: Arc<tempfile::TempDir>,
        admin_token: String,
        mut config: Config,
    ) -> TestGateway {
        config.data_dir = dir.path().to_owned();
        let master = MasterKey::from_file(&dir.path().join("master.key")).expect("master key");
        let store = telegate_store::open(&config.effective_database_url(), master)
            .await
            .expect("open the store");
        let server = Server::new(ServerOptions {
            config: config.clone(),
            store: store.clone(),
            bootstrap_token: Some(SecretString::from(admin_token.clone())),
        })
        .await
        .expect("server");
        let bell = server.event_bell();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async {
            let _ = rx.await;
        }));
        TestGateway {
            url,
            admin_token,
            store,
            bell,
            config,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `self.url + path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    /// A client that sends the admin token.
    pub fn admin(&self) -> reqwest::Client {
        client_with_token(&self.admin_token)
    }

    /// Shuts down gracefully and waits.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.store.close().await;
    }

    /// Stops and starts again on the same database and master key, on a new port.
    pub async fn restart(mut self) -> TestGateway {
        self.stop().await;
        let (dir, token, config) = (
            self.dir.clone(),
            self.admin_token.clone(),
            self.config.clone(),
        );
        Self::launch(dir, token, config).await
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A reqwest client sending `Authorization: Bearer <token>`.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}
