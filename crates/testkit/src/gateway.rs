//! Starts the gateway's HTTP API in-process on a free port, on a fresh SQLite database in a
//! temporary directory, with an admin (bootstrap) token, so tests drive it over real HTTP.
//! [`TestGateway::restart`] stops it and starts it again on the same data (a new port), for
//! resumption tests. [`TestGateway::with_runtime`] also runs the account runtime against a
//! mock DC, so the account routes work end to end.

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
    /// The account runtime, when started with one.
    pub runtime: Option<telegate_core::Gateway>,
    target: Option<telegate_core::TelegramTarget>,
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
        Self::start_inner(config, None).await
    }

    /// With the account runtime pointed at `target` (e.g. [`crate::TestMock::target`]), using
    /// [`crate::fast_config`].
    pub async fn with_runtime(target: telegate_core::TelegramTarget) -> TestGateway {
        Self::start_inner(test_config(), Some(target)).await
    }

    async fn start_inner(
        config: Config,
        target: Option<telegate_core::TelegramTarget>,
    ) -> TestGateway {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).expect("random");
        let admin_token = format!("test-bootstrap-{}", hex::encode(token));
        telegate_store::generate_master_key_file(&dir.path().join("master.key"))
            .expect("master key");
        Self::launch(dir, admin_token, config, target).await
    }

    async fn launch(
        dir: Arc<tempfile::TempDir>,
        admin_token: String,
        mut config: Config,
        target: Option<telegate_core::TelegramTarget>,
    ) -> TestGateway {
        config.data_dir = dir.path().to_owned();
        let master = MasterKey::from_file(&dir.path().join("master.key")).expect("master key");
        let store = telegate_store::open(&config.effective_database_url(), master)
            .await
            .expect("open the store");
        let runtime = match &target {
            Some(t) => Some(
                telegate_core::Gateway::start(crate::fast_config(), store.clone(), t.clone())
                    .await
                    .expect("runtime starts"),
            ),
            None => None,
        };
        let server = Server::new(ServerOptions {
            config: config.clone(),
            store: store.clone(),
            bootstrap_token: Some(SecretString::from(admin_token.clone())),
            gateway: runtime.clone(),
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
            runtime,
            target,
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
        if let Some(rt) = self.runtime.take() {
            rt.shutdown().await;
        }
        self.store.close().await;
    }

    /// Stops and starts again on the same database and master key, on a new port.
    pub async fn restart(mut self) -> TestGateway {
        self.stop().await;
        let (dir, token, config, target) = (
            self.dir.clone(),
            self.admin_token.clone(),
            self.config.clone(),
            self.target.clone(),
        );
        Self::launch(dir, token, config, target).await
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
