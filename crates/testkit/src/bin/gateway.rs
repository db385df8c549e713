//! A bare account runtime in its own process, for tests that kill it (SIGKILL) mid-stream:
//! `DATABASE_URL`, `TELEGATE_MASTER_KEY` and `TELEGATE_MOCK_DC` from the environment; prints
//! `ready` on stdout once the accounts are restored, then runs until killed.

use telegate_store::{MasterKey, OpenOptions, SqlStore};

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let master = MasterKey::from_env_or_file(None).expect("TELEGATE_MASTER_KEY");
    let store = std::sync::Arc::new(
        SqlStore::open(OpenOptions::new(url, master))
            .await
            .expect("store"),
    );
    let target = telegate_core::TelegramTarget::from_env().expect("TELEGATE_MOCK_DC");
    let gw = telegate_core::Gateway::start(telegate_testkit::fast_config(), store, target)
        .await
        .expect("runtime starts");
    let states = gw.wait_settled(std::time::Duration::from_secs(30)).await;
    println!(
        "ready {}",
        serde_json::to_string(&states).unwrap_or_default()
    );
    std::future::pending::<()>().await;
}
