//! The `telegate` binary's key and database commands, run as a user would.

use std::path::Path;
use std::process::Command;

use telegate_store::{AuthKey, DcSession, MasterKey, NewAccount};

fn telegate(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_telegate"));
    command
        .args(args)
        .env_remove("TELEGATE_MASTER_KEY")
        .env_remove("TELEGATE_MASTER_KEY_FILE")
        .env_remove("DATABASE_URL");
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("run telegate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn generate_migrate_and_rotate_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("telegate-cli-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("master.key");
    let key_path = key_file.to_str().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("telegate.db").display());

    let (ok, stdout, stderr) = telegate(&["keys", "generate", "--key-file", key_path], &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("fingerprint"), "{stdout}");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        !stdout.contains(key_text.trim()),
        "the key itself is never printed"
    );
    // Never overwritten.
    let (ok, _, stderr) = telegate(&["keys", "generate", "--key-file", key_path], &[]);
    assert!(!ok);
    assert!(stderr.contains("master.key"), "{stderr}");

    let (ok, stdout, stderr) = telegate(&["db", "migrate", "--database-url", &url], &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("migrations applied"));

    // A sealed secret to rotate.
    let secret = [42u8; 256];
    let account_id = {
        let store = telegate_store::open(&url, MasterKey::from_file(Path::new(&key_file)).unwrap())
            .await
            .unwrap();
        let account = store
            .create_account(NewAccount::user("+15550000"), "test")
            .await
            .unwrap();
        store
            .put_dc_session(
                account.id,
                &DcSession {
                    dc_id: 2,
                    ipv4: None,
                    ipv6: None,
                    auth_key: Some(AuthKey::new(&secret)),
                    revoked_at: None,
                },
            )
            .await
            .unwrap();
        account.id
    };

    // Without a master key: a clear refusal naming where the key comes from.
    let (ok, _, stderr) = telegate(&["keys", "rotate", "--database-url", &url], &[]);
    assert!(!ok);
    assert!(stderr.contains("TELEGATE_MASTER_KEY"), "{stderr}");

    let (ok, stdout, stderr) = telegate(
        &[
            "keys",
            "rotate",
            "--database-url",
            &url,
            "--key-file",
            key_path,
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("now under key"), "{stdout}");
    assert!(stdout.contains("retired keys: [1]"), "{stdout}");

    // The secret still opens, under the new key.
    let store = telegate_store::open(&url, MasterKey::from_file(Path::new(&key_file)).unwrap())
        .await
        .unwrap();
    let sessions = store.dc_sessions(account_id).await.unwrap();
    let key = sessions[0].auth_key.as_ref().expect("key kept");
    assert_eq!(key.expose(), &secret);
    let keys = store.vault_keys().await.unwrap();
    assert!(keys.len() >= 2, "{keys:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
