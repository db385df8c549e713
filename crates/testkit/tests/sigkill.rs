//! Acceptance: the gateway (a separate process) is SIGKILLed while another user sends 1,000
//! messages; once restarted, the event log holds all 1,000, once, in order, and the chat
//! mirror's last_message_at is right.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use telegate_testkit::{TestMock, TestStore};

fn spawn_gateway(ts: &TestStore, mock: &TestMock) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_telegate-testkit-gateway"))
        .env("DATABASE_URL", &ts.url)
        .env("TELEGATE_MASTER_KEY", &ts.master_key_b64)
        .env("TELEGATE_MOCK_DC", mock.control_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("ready line");
    assert!(line.starts_with("ready"), "{line}");
    assert!(line.contains("\"connected\":1"), "{line}");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_gateway_loses_no_event() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    let alice = mock.user("+15550901", "Alice").await;
    let bob = mock.user("+15550902", "Bob").await;
    let account = mock.seed_account(&store, alice, "+15550901").await;
    let skip = store
        .events_after(0, Some(account), 10_000)
        .await
        .unwrap()
        .len();

    let mut gw = spawn_gateway(&ts, &mock);
    let to = alice.user_id.to_string();
    for i in 0..1000 {
        mock.control
            .send_message(bob.user_id, &to, &format!("m{i:04}"))
            .await
            .unwrap();
        if i == 400 {
            gw.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
            gw.wait().unwrap();
        }
        if i == 700 {
            gw = spawn_gateway(&ts, &mock);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let texts = loop {
        let evs: Vec<_> = store
            .events_after(0, Some(account), 10_000)
            .await
            .unwrap()
            .into_iter()
            .skip(skip)
            .filter(|e| e.kind == "message.new")
            .collect();
        let texts: Vec<String> = evs
            .iter()
            .map(|e| {
                e.payload["message"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .filter(|t| t.starts_with('m'))
            .collect();
        if texts.len() >= 1000 || tokio::time::Instant::now() > deadline {
            break texts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let want: Vec<String> = (0..1000).map(|i| format!("m{i:04}")).collect();
    assert_eq!(texts.len(), 1000, "all 1,000 events, once");
    assert_eq!(texts, want, "in order");
    let last = mock
        .control
        .messages(alice.user_id, None, 1)
        .await
        .unwrap()
        .messages[0]
        .clone();
    let chat = store
        .chats(account, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.peer_id == bob.user_id)
        .expect("bob's chat mirrored");
    assert_eq!(chat.last_message_id, Some(last.id));
    assert_eq!(chat.last_message_at, Some(last.date * 1000));
    gw.kill().unwrap();
    let _ = gw.wait();
    mock.shutdown().await;
}
