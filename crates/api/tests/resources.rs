//! The account routes end to end, as an application meets them: HTTP requests to the gateway,
//! the account runtime behind it, the mock DC behind that. A phone login with 2FA, messages
//! (send with an idempotency key, history live and from the mirror, edit, search, forward,
//! read, delete), groups (create, members, promote, title, invite links), contacts, username
//! resolution, authorizations, session export and import, and deleting the account — each
//! checked against what the mock's world shows, not only against our own answers.

use std::time::Duration;

use base64::Engine as _;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use telegate_core::AccountState;
use telegate_mockdc_client::NewUser;
use telegate_testkit::gateway::{client_with_token, TestGateway};
use telegate_testkit::TestMock;

struct Http<'a> {
    gw: &'a TestGateway,
    client: Client,
}

impl Http<'_> {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.gw.at(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.send(method.clone(), path, body, None).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }

    async fn fails(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
        let (s, v) = self.send(method.clone(), path, body, None).await;
        assert!(!s.is_success(), "{method} {path} should fail: {v}");
        (
            s.as_u16(),
            v["code"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

async fn wait_connected(gw: &TestGateway, account: i64) {
    let h = gw.runtime.as_ref().unwrap().account(account).unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected,
        "account {account} connects"
    );
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_logs_in_messages_manages_a_group_and_contacts_over_http() {
    let mock = TestMock::start().await;
    let alice = mock
        .user_with(NewUser::new("+15550301", "Alice").password("s3cret"))
        .await;
    let bob = mock
        .user_with(NewUser::new("+15550302", "Bob").username("bobby"))
        .await;
    let carol = mock.user("+15550303", "Carol").await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let http = Http {
        gw: &gw,
        client: gw.admin(),
    };

    // ---- login: bad input, wrong code, 2FA ----------------------------------------------
    assert_eq!(
        http.fails(Method::POST, "/v1/accounts", Some(json!({"phone": 5})))
            .await,
        (400, "INVALID_REQUEST".into())
    );
    let (s, created) = http
        .send(
            Method::POST,
            "/v1/accounts",
            Some(json!({"phone": "+1 555 0301"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["login"]["step"], "code", "{created}");
    assert_eq!(created["phone"], "+15550301");
    let id = created["id"].as_i64().unwrap();
    let acct = format!("/v1/accounts/{id}");
    assert_eq!(
        http.fails(
            Method::POST,
            "/v1/accounts",
            Some(json!({"phone": "+15550301"}))
        )
        .await,
        (409, "ACCOUNT_EXISTS".into())
    );
    let step = http.ok(Method::GET, &format!("{acct}/login"), None).await;
    assert_eq!(step["login"]["step"], "code");
    assert_eq!(
        http.fails(
            Method::POST,
            &format!("{acct}/login/code"),
            Some(json!({"code": "00000"}))
        )
        .await,
        (400, "PHONE_CODE_INVALID".into())
    );
    let code = mock.control.login_code("+15550301").await.unwrap();
    let step = http
        .ok(
            Method::POST,
            &format!("{acct}/login/code"),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(step["step"], "password", "{step}");
    assert_eq!(
        http.fails(
            Method::POST,
            &format!("{acct}/login/password"),
            Some(json!({"password": "nope"}))
        )
        .await,
        (400, "PASSWORD_INVALID".into())
    );
    let done = http
        .ok(
            Method::POST,
            &format!("{acct}/login/password"),
            Some(json!({"password": "s3cret"})),
        )
        .await;
    assert_eq!(done["step"], "done", "{done}");
    assert_eq!(done["user"]["id"], alice.user_id);
    wait_connected(&gw, id).await;
    let info = http.ok(Method::GET, &acct, None).await;
    assert_eq!(info["state"], "connected", "{info}");
    assert_eq!(info["user_id"], alice.user_id);
    let list = http.ok(Method::GET, "/v1/accounts", None).await;
    assert_eq!(ids(&list), vec![id]);

    // ---- messages ------------------------------------------------------------------------
    assert_eq!(
        http.fails(
            Method::POST,
            &format!("{acct}/chats/not-a-peer/messages"),
            Some(json!({"text": "x"}))
        )
        .await,
        (400, "PEER_INVALID".into())
    );
    let body = json!({"text": "**hi** bob", "parse_mode": "markdown"});
    let (s, first) = http
        .send(
            Method::POST,
            &format!("{acct}/chats/@bobby/messages"),
            Some(body.clone()),
            Some("order-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["text"], "hi bob");
    assert_eq!(first["entities"][0]["type"], "bold", "{first}");
    let (s, again) = http
        .send(
            Method::POST,
            &format!("{acct}/chats/@bobby/messages"),
            Some(body),
            Some("order-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(again["id"], first["id"], "a retry returns the first send");
    let msg = first["id"].as_i64().unwrap();
    let bobs_box = mock.control.messages(bob.user_id, None, 10).await.unwrap();
    let from_alice: Vec<_> = bobs_box
        .messages
        .iter()
        .filter(|m| m.from == alice.user_id)
        .collect();
    assert_eq!(from_alice.len(), 1, "sent exactly once: {bobs_box:?}");
    assert_eq!(from_alice[0].text, "hi bob");

    let chat = format!("{acct}/chats/{}", bob.user_id);
    let history = http
        .ok(Method::GET, &format!("{chat}/messages?limit=10"), None)
        .await;
    assert!(ids(&history).contains(&msg), "{history}");
    let edited = http
        .ok(
            Method::PATCH,
            &format!("{chat}/messages/{msg}"),
            Some(json!({"text": "hello bob"})),
        )
        .await;
    assert_eq!(edited["text"], "hello bob");
    let found = http
        .ok(Method::GET, &format!("{chat}/search?q=hello"), None)
        .await;
    assert_eq!(ids(&found), vec![msg], "{found}");
    http.ok(Method::POST, &format!("{chat}/read"), Some(json!({})))
        .await;
    let (s, fwd) = http
        .send(
            Method::POST,
            &format!("{chat}/messages/{msg}/forward"),
            Some(json!({"to": "me"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{fwd}");
    assert_eq!(fwd["items"][0]["text"], "hello bob");
    let saved = mock
        .control
        .messages(alice.user_id, Some(&alice.user_id.to_string()), 5)
        .await
        .unwrap();
    assert_eq!(saved.messages[0].text, "hello bob", "{saved:?}");
    assert_eq!(saved.messages[0].forwarded_from, Some(alice.user_id));
    // Bob answers; the update stream writes the mirror, which history can read without
    // asking Telegram.
    mock.control
        .send_message(bob.user_id, &alice.user_id.to_string(), "got it")
        .await
        .unwrap();
    // (Private chats number messages per box: look for the text, not Bob's id.)
    let has_reply = |page: &Value| page.to_string().contains("\"got it\"");
    let mut mirrored = Value::Null;
    for _ in 0..100 {
        mirrored = http
            .ok(Method::GET, &format!("{chat}/messages?source=mirror"), None)
            .await;
        if has_reply(&mirrored) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(has_reply(&mirrored), "{mirrored}");
    http.ok(Method::DELETE, &format!("{chat}/messages/{msg}"), None)
        .await;
    let bobs_box = mock.control.messages(bob.user_id, None, 10).await.unwrap();
    assert!(
        bobs_box.messages.iter().all(|m| m.from != alice.user_id),
        "deleted for everyone: {bobs_box:?}"
    );

    // ---- a group: create, members, promote, title, invite links ----------------------------
    assert_eq!(
        http.fails(
            Method::POST,
            &format!("{acct}/chats"),
            Some(json!({"kind": "club", "title": "x"}))
        )
        .await,
        (400, "INVALID_REQUEST".into())
    );
    let (s, group) = http
        .send(
            Method::POST,
            &format!("{acct}/chats"),
            Some(json!({"kind": "supergroup", "title": "Team"})),
            Some("team-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_i64().unwrap();
    assert!(gid < -1_000_000_000_000, "a channel id: {gid}");
    assert_eq!(group["kind"], "supergroup");
    let g = format!("{acct}/chats/{gid}");
    http.ok(
        Method::POST,
        &format!("{g}/members"),
        Some(json!({"user": "@bobby"})),
    )
    .await;
    http.ok(
        Method::POST,
        &format!("{g}/members/@bobby/promote"),
        Some(json!({"rights": {"ban_users": true}, "rank": "mod"})),
    )
    .await;
    http.ok(Method::PATCH, &g, Some(json!({"title": "Team 2"})))
        .await;
    let channel_id = -(gid + 1_000_000_000_000);
    let seen: Value = reqwest::get(format!("{}/v1/channels/{channel_id}", mock.control_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["title"], "Team 2", "{seen}");
    let bob_in = seen["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == bob.user_id)
        .cloned();
    assert_eq!(
        bob_in.map(|p| p["role"].clone()),
        Some(json!("admin")),
        "{seen}"
    );
    let (s, link) = http
        .send(
            Method::POST,
            &format!("{g}/invite-links"),
            Some(json!({"usage_limit": 5, "title": "crm"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    assert_eq!(link["usage_limit"], 5);
    assert_eq!(link["usage"], 0);
    let url = link["link"].as_str().unwrap().to_owned();
    let hash = url.rsplit('+').next().unwrap().to_owned();
    let links = http
        .ok(Method::GET, &format!("{g}/invite-links"), None)
        .await;
    assert!(links.to_string().contains(&url), "{links}");
    let importers = http
        .ok(
            Method::GET,
            &format!("{g}/invite-links/{hash}/importers"),
            None,
        )
        .await;
    assert_eq!(importers["items"], json!([]));
    let revoked = http
        .ok(Method::DELETE, &format!("{g}/invite-links/{hash}"), None)
        .await;
    assert_eq!(revoked["revoked"], true, "{revoked}");
    http.ok(
        Method::DELETE,
        &format!("{g}/members/@bobby?ban=true"),
        None,
    )
    .await;
    let seen: Value = reqwest::get(format!("{}/v1/channels/{channel_id}", mock.control_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let banned: Vec<&Value> = seen["bans"].as_array().unwrap().iter().collect();
    assert!(
        banned
            .iter()
            .any(|b| b["user_id"] == bob.user_id && b["kicked"] == true),
        "{seen}"
    );

    // The chat list: filled from Telegram by sync, then read from the mirror, newest first.
    let synced = http
        .ok(Method::POST, &format!("{acct}/chats/sync"), None)
        .await;
    assert!(ids(&synced).contains(&gid), "{synced}");
    let chats = http.ok(Method::GET, &format!("{acct}/chats"), None).await;
    let chat_ids = ids(&chats);
    assert!(
        chat_ids.contains(&gid) && chat_ids.contains(&bob.user_id),
        "{chats}"
    );
    let one = http.ok(Method::GET, &g, None).await;
    assert_eq!(one["title"], "Team 2", "{one}");
    let page = http
        .ok(Method::GET, &format!("{acct}/chats?limit=1"), None)
        .await;
    assert_eq!(ids(&page).len(), 1);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let page2 = http
        .ok(
            Method::GET,
            &format!("{acct}/chats?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_ne!(ids(&page2), ids(&page));

    // ---- contacts and usernames -------------------------------------------------------------
    let (s, imported) = http
        .send(
            Method::POST,
            &format!("{acct}/contacts"),
            Some(json!({"contacts": [{"phone": "+15550303", "first_name": "Carol"}]})),
            Some("contacts-1"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{imported}");
    assert_eq!(imported["items"][0]["user_id"], carol.user_id, "{imported}");
    let contacts = http
        .ok(Method::GET, &format!("{acct}/contacts"), None)
        .await;
    assert!(contacts.to_string().contains(&carol.user_id.to_string()));
    http.ok(
        Method::DELETE,
        &format!("{acct}/contacts/{}", carol.user_id),
        None,
    )
    .await;
    let contacts = http
        .ok(Method::GET, &format!("{acct}/contacts"), None)
        .await;
    assert!(
        !contacts.to_string().contains(&carol.user_id.to_string()),
        "{contacts}"
    );
    let resolved = http
        .ok(Method::GET, &format!("{acct}/resolve/@bobby"), None)
        .await;
    assert_eq!(resolved["id"], bob.user_id);
    assert_eq!(
        http.fails(Method::GET, &format!("{acct}/resolve/nobody_here"), None)
            .await,
        (404, "USERNAME_NOT_OCCUPIED".into())
    );

    // ---- authorizations and tokens limited to other accounts -------------------------------
    let auths = http
        .ok(Method::GET, &format!("{acct}/authorizations"), None)
        .await;
    assert!(
        auths["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["current"] == true),
        "{auths}"
    );
    let reader: Value = http
        .ok(
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "reader", "scopes": ["read"]})),
        )
        .await;
    let reader = Http {
        gw: &gw,
        client: client_with_token(reader["token"].as_str().unwrap()),
    };
    reader
        .ok(Method::GET, &format!("{chat}/messages"), None)
        .await;
    assert_eq!(
        reader
            .fails(
                Method::POST,
                &format!("{chat}/messages"),
                Some(json!({"text": "x"}))
            )
            .await,
        (403, "FORBIDDEN".into())
    );

    // ---- sessions: export, a bad import, a real import that sends ------------------------
    let exported = http
        .ok(
            Method::POST,
            "/v1/sessions/export",
            Some(json!({"account": id, "format": "telethon"})),
        )
        .await;
    assert!(
        exported["session"].as_str().unwrap().starts_with('1'),
        "{exported}"
    );
    let audit = http.ok(Method::GET, "/v1/audit", None).await;
    assert!(audit.to_string().contains("session_export"), "{audit}");
    assert!(!audit
        .to_string()
        .contains(exported["session"].as_str().unwrap()));
    let (status, code) = http
        .fails(
            Method::POST,
            "/v1/sessions/import",
            Some(json!({"format": "telethon", "session": "2AAAA"})),
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "INVALID_REQUEST"));
    let (status, _) = http
        .fails(
            Method::POST,
            "/v1/sessions/import",
            Some(json!({"format": "tdlib", "session": "1AAAA"})),
        )
        .await;
    assert_eq!(status, 400);
    // Carol's key, as a Telethon StringSession made elsewhere.
    let dc = mock
        .dc
        .ready_info()
        .dcs
        .iter()
        .find(|d| d.id == carol.dc_id)
        .unwrap()
        .clone();
    let key = mock.dc.register_authorized_key(carol.dc_id, carol.user_id);
    let mut raw = vec![carol.dc_id as u8, 127, 0, 0, 1];
    raw.extend_from_slice(&dc.port.to_be_bytes());
    raw.extend_from_slice(&key);
    let session = format!(
        "1{}",
        base64::engine::general_purpose::URL_SAFE.encode(&raw)
    );
    let (s, imported) = http
        .send(
            Method::POST,
            "/v1/sessions/import",
            Some(json!({"format": "telethon", "session": session, "label": "carol"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{imported}");
    let carol_acct = imported["id"].as_i64().unwrap();
    wait_connected(&gw, carol_acct).await;
    http.ok(
        Method::POST,
        &format!("/v1/accounts/{carol_acct}/chats/me/messages"),
        Some(json!({"text": "imported and working"})),
    )
    .await;
    let box_c = mock
        .control
        .messages(carol.user_id, Some(&carol.user_id.to_string()), 1)
        .await
        .unwrap();
    assert_eq!(box_c.messages[0].text, "imported and working");

    // ---- forget the account -----------------------------------------------------------------
    http.ok(Method::DELETE, &acct, None).await;
    assert_eq!(
        http.fails(Method::GET, &acct, None).await,
        (404, "ACCOUNT_NOT_FOUND".into())
    );
    assert_eq!(
        http.fails(Method::GET, &format!("{chat}/messages"), None)
            .await,
        (404, "ACCOUNT_NOT_FOUND".into())
    );
}

/// A tus client's view: create, PATCH in pieces that do not line up with Telegram's parts,
/// a PATCH at a wrong offset refused, HEAD to resume, send as a document, download whole and
/// by ranges — bytes compared by SHA-256 against what was generated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_up_in_resumable_pieces_and_comes_back_by_ranges() {
    use sha2::{Digest, Sha256};
    let mock = TestMock::start().await;
    let alice = mock.user("+15550401", "Alice").await;
    let bob = mock.user("+15550402", "Bob").await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let id = mock.seed_account(&gw.store, alice, "+15550401").await;
    let gw = gw.restart().await;
    wait_connected(&gw, id).await;
    let http = Http {
        gw: &gw,
        client: gw.admin(),
    };
    // Bob must be known to the account: he writes first.
    mock.control
        .send_message(bob.user_id, &alice.user_id.to_string(), "send me the file")
        .await
        .unwrap();
    http.ok(Method::POST, &format!("/v1/accounts/{id}/chats/sync"), None)
        .await;

    for size in [1_500_000usize, 12 * 1024 * 1024 + 123] {
        let mut data = vec![0u8; size];
        getrandom::fill(&mut data).unwrap();
        let name = base64::engine::general_purpose::STANDARD.encode(format!("report-{size}.bin"));
        let mime = base64::engine::general_purpose::STANDARD.encode("application/x-test");
        let created = http
            .client
            .post(gw.at(&format!("/v1/accounts/{id}/uploads")))
            .header("tus-resumable", "1.0.0")
            .header("upload-length", size.to_string())
            .header(
                "upload-metadata",
                format!("filename {name},filetype {mime}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let up: Value = created.json().await.unwrap();
        let upload_id = up["id"].as_str().unwrap().to_owned();
        let patch = |offset: usize, bytes: Vec<u8>| {
            http.client
                .patch(gw.at(&location))
                .header("tus-resumable", "1.0.0")
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", offset.to_string())
                .body(bytes)
                .send()
        };
        // Sending before it is complete is refused, naming what is missing.
        let cut = 700_001;
        let r = patch(0, data[..cut].to_vec()).await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["upload-offset"], cut.to_string().as_str());
        let (s, early) = http
            .send(
                Method::POST,
                &format!("/v1/accounts/{id}/chats/{}/messages", bob.user_id),
                Some(json!({"text": "x", "media": {"upload": upload_id}})),
                None,
            )
            .await;
        assert_eq!(s.as_u16(), 409, "{early}");
        assert_eq!(early["code"], "UPLOAD_INCOMPLETE");
        // A PATCH at the wrong offset loses nothing and says where to continue.
        let r = patch(5, data[5..10].to_vec()).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let head = http.client.head(gw.at(&location)).send().await.unwrap();
        assert_eq!(head.headers()["upload-offset"], cut.to_string().as_str());
        assert_eq!(head.headers()["upload-length"], size.to_string().as_str());
        let r = patch(cut, data[cut..].to_vec()).await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let status = http.ok(Method::GET, &location, None).await;
        assert_eq!(status["state"], "complete", "{status}");
        assert_eq!(status["parts_done"], status["total_parts"]);
        let spool = std::fs::read_dir(gw.config.data_dir.join("uploads")).unwrap();
        assert!(
            spool
                .into_iter()
                .all(|e| e.unwrap().file_name() != upload_id.as_str()),
            "the spool file is gone once every part is on Telegram"
        );

        let (s, sent) = http
            .send(
                Method::POST,
                &format!("/v1/accounts/{id}/chats/{}/messages", bob.user_id),
                Some(json!({"text": "the **report**", "parse_mode": "markdown",
                            "media": {"upload": upload_id}})),
                Some(&format!("file-{size}")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{sent}");
        assert_eq!(sent["text"], "the report");
        assert_eq!(sent["media"]["type"], "document", "{sent}");
        assert_eq!(sent["media"]["size"], size);
        assert_eq!(sent["media"]["file_name"], format!("report-{size}.bin"));
        assert_eq!(sent["media"]["mime_type"], "application/x-test");
        let msg = sent["id"].as_i64().unwrap();
        // Sending the same upload again without the key is refused (it is used up).
        let (s, _) = http
            .send(
                Method::POST,
                &format!("/v1/accounts/{id}/chats/{}/messages", bob.user_id),
                Some(json!({"media": {"upload": upload_id}})),
                None,
            )
            .await;
        assert_eq!(s.as_u16(), 400);

        let media = gw.at(&format!(
            "/v1/accounts/{id}/chats/{}/messages/{msg}/media",
            bob.user_id
        ));
        let whole = http.client.get(&media).send().await.unwrap();
        assert_eq!(whole.status(), StatusCode::OK);
        assert_eq!(whole.headers()["content-type"], "application/x-test");
        assert!(whole.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("report-{size}.bin")));
        let got = whole.bytes().await.unwrap();
        assert_eq!(got.len(), size);
        assert_eq!(Sha256::digest(&got), Sha256::digest(&data), "whole file");
        for (a, b) in [
            (0usize, 99usize),
            (524_287, 524_288 + 10),
            (1_000, 1_200_000),
        ] {
            let r = http
                .client
                .get(&media)
                .header("range", format!("bytes={a}-{b}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
            assert_eq!(
                r.headers()["content-range"],
                format!("bytes {a}-{b}/{size}").as_str()
            );
            let part = r.bytes().await.unwrap();
            assert_eq!(&part[..], &data[a..=b], "range {a}-{b}");
        }
        let r = http
            .client
            .get(&media)
            .header("range", format!("bytes={size}-"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 416);
    }
}

/// QR login over HTTP: the step carries the `tg://login` URL and an SVG of it; once another
/// device (the mock's control API, standing in for a phone) accepts the token, the account
/// connects without a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_over_http_completes_when_another_device_accepts() {
    let mock = TestMock::start().await;
    let alice = mock.user("+15550501", "Alice").await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let http = Http {
        gw: &gw,
        client: gw.admin(),
    };
    let (s, created) = http
        .send(
            Method::POST,
            "/v1/accounts",
            Some(json!({"phone": "+15550501"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let qr = http
        .ok(Method::POST, &format!("/v1/accounts/{id}/login/qr"), None)
        .await;
    assert_eq!(qr["step"], "qr", "{qr}");
    let url = qr["url"].as_str().unwrap();
    assert!(qr["qr_svg"].as_str().unwrap().starts_with("<?xml"), "{qr}");
    assert!(qr["token_expires"].as_i64().unwrap() > 0);
    let token = url
        .strip_prefix("tg://login?token=")
        .expect("a tg://login URL");
    mock.control
        .accept_qr_login(alice.user_id, token)
        .await
        .unwrap();
    wait_connected(&gw, id).await;
    let info = http
        .ok(Method::GET, &format!("/v1/accounts/{id}"), None)
        .await;
    assert_eq!(info["user_id"], alice.user_id, "{info}");
    let login = http
        .ok(Method::GET, &format!("/v1/accounts/{id}/login"), None)
        .await;
    assert!(
        login.get("login").is_none(),
        "no login in progress: {login}"
    );
}

/// An invite link limited to 2 uses: two other accounts of the gateway join through it, the
/// owner lists it with 2 uses and both importers, and a third join is refused by Telegram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_link_limited_to_two_is_used_twice_then_refused() {
    let mock = TestMock::start().await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let mut accounts = Vec::new();
    for (i, name) in ["Owner", "Bob", "Carol", "Dave"].iter().enumerate() {
        let phone = format!("+1555060{i}");
        let user = mock.user(&phone, name).await;
        let id = mock.seed_account(&gw.store, user, &phone).await;
        accounts.push((id, user.user_id));
    }
    let gw = gw.restart().await;
    for (id, _) in &accounts {
        wait_connected(&gw, *id).await;
    }
    let http = Http {
        gw: &gw,
        client: gw.admin(),
    };
    let owner = accounts[0].0;
    let (s, group) = http
        .send(
            Method::POST,
            &format!("/v1/accounts/{owner}/chats"),
            Some(json!({"kind": "supergroup", "title": "Club"})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_i64().unwrap();
    let (s, link) = http
        .send(
            Method::POST,
            &format!("/v1/accounts/{owner}/chats/{gid}/invite-links"),
            Some(json!({"usage_limit": 2})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let url = link["link"].as_str().unwrap().to_owned();
    for (id, _) in &accounts[1..3] {
        let joined = http
            .ok(
                Method::POST,
                &format!("/v1/accounts/{id}/chats/join"),
                Some(json!({"link": url})),
            )
            .await;
        assert_eq!(joined["id"], gid, "{joined}");
        assert_eq!(joined["title"], "Club");
    }
    let links = http
        .ok(
            Method::GET,
            &format!("/v1/accounts/{owner}/chats/{gid}/invite-links"),
            None,
        )
        .await;
    let listed = links["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["link"] == url.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{links}"));
    assert_eq!(listed["usage"], 2, "{listed}");
    assert_eq!(listed["usage_limit"], 2);
    let hash = url.rsplit('+').next().unwrap();
    let importers = http
        .ok(
            Method::GET,
            &format!("/v1/accounts/{owner}/chats/{gid}/invite-links/{hash}/importers"),
            None,
        )
        .await;
    let mut who: Vec<i64> = importers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["user_id"].as_i64().unwrap())
        .collect();
    who.sort_unstable();
    assert_eq!(who, vec![accounts[1].1, accounts[2].1], "{importers}");
    let dave = accounts[3].0;
    let (status, code) = http
        .fails(
            Method::POST,
            &format!("/v1/accounts/{dave}/chats/join"),
            Some(json!({"link": url})),
        )
        .await;
    assert_eq!((status, code.as_str()), (410, "INVITE_HASH_EXPIRED"));
}

/// A 64 MB tus upload whose connection breaks twice mid-body: each time the gateway keeps
/// what arrived, HEAD says where to resume, and the finished file downloads back (by parallel
/// ranges) with the same SHA-256.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mb_upload_interrupted_twice_resumes_and_downloads_identical() {
    use sha2::{Digest, Sha256};
    let mock = TestMock::start().await;
    let alice = mock.user("+15550701", "Alice").await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let id = mock.seed_account(&gw.store, alice, "+15550701").await;
    let gw = gw.restart().await;
    wait_connected(&gw, id).await;
    let client = gw.admin();
    let size = 64 * 1024 * 1024;
    let mut data = vec![0u8; size];
    getrandom::fill(&mut data).unwrap();
    let data = bytes::Bytes::from(data);
    let created = client
        .post(gw.at(&format!("/v1/accounts/{id}/uploads")))
        .header("upload-length", size.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = gw.at(created.headers()["location"].to_str().unwrap());
    let offset_now = || async {
        let head = client.head(&location).send().await.unwrap();
        head.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    // Two PATCHes whose bodies fail after some megabytes (a dropped connection).
    for cut_after in [9 * 1024 * 1024 + 77, 21 * 1024 * 1024 + 5] {
        let offset = offset_now().await;
        let piece = data.slice(offset..offset + cut_after);
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = piece
            .chunks(256 * 1024)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .chain(std::iter::once(Err(std::io::Error::other(
                "connection lost",
            ))))
            .collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let r = client
            .patch(&location)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(body)
            .send()
            .await;
        assert!(
            r.as_ref().map_or(true, |r| !r.status().is_success()),
            "a cut body is not a success"
        );
        let resumed = offset_now().await;
        assert!(
            resumed > offset && resumed <= offset + cut_after,
            "kept what arrived: {offset} → {resumed}"
        );
    }
    let offset = offset_now().await;
    let r = client
        .patch(&location)
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .body(data.slice(offset..))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{:?}", r.text().await);
    let upload: Value = client
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(upload["state"], "complete", "{upload}");
    let sent: Value = client
        .post(gw.at(&format!("/v1/accounts/{id}/chats/me/messages")))
        .json(&json!({"text": "64 MB", "media": {"upload": upload["id"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msg = sent["id"].as_i64().unwrap_or_else(|| panic!("{sent}"));
    let media = gw.at(&format!("/v1/accounts/{id}/chats/me/messages/{msg}/media"));
    // Four ranged requests at once, as a download manager would.
    let quarter = size / 4;
    let parts = futures_util::future::join_all((0..4).map(|i| {
        let (client, media) = (client.clone(), media.clone());
        async move {
            let r = client
                .get(&media)
                .header(
                    "range",
                    format!("bytes={}-{}", i * quarter, (i + 1) * quarter - 1),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
            r.bytes().await.unwrap()
        }
    }))
    .await;
    let mut hasher = Sha256::new();
    for p in &parts {
        hasher.update(p);
    }
    assert_eq!(hasher.finalize(), Sha256::digest(&data));
}

/// A small file in one multipart request; content checks before anything reaches a chat
/// (a declared type the bytes contradict: 415; an image that does not decode sent as a photo:
/// 422; a video sent as audio: 415); a sniffed type where none was declared; a photo and a
/// video sent as what they are; progress events; the download alias with ETag/304 and Range;
/// tus discovery and expiration (410).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_check_their_content_and_downloads_revalidate() {
    let mock = TestMock::start().await;
    let alice = mock.user("+15550701", "Alice").await;
    let bob = mock.user("+15550702", "Bob").await;
    let gw = TestGateway::with_runtime(mock.target()).await;
    let id = mock.seed_account(&gw.store, alice, "+15550701").await;
    let gw = gw.restart().await;
    wait_connected(&gw, id).await;
    let http = Http {
        gw: &gw,
        client: gw.admin(),
    };
    mock.control
        .send_message(bob.user_id, &alice.user_id.to_string(), "hi")
        .await
        .unwrap();
    http.ok(Method::POST, &format!("/v1/accounts/{id}/chats/sync"), None)
        .await;
    let uploads = format!("/v1/accounts/{id}/uploads");
    let messages = format!("/v1/accounts/{id}/chats/{}/messages", bob.user_id);

    // tus discovery.
    let r = http
        .client
        .request(Method::OPTIONS, gw.at(&uploads))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    let ext = r.headers()["tus-extension"].to_str().unwrap().to_owned();
    assert!(
        ext.contains("creation") && ext.contains("expiration"),
        "{ext}"
    );

    // A real PNG, made here.
    let mut png = Vec::new();
    image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let multipart = |parts: &[(&str, Option<&str>, &str, &[u8])]| {
        let boundary = "telegate-test-boundary-7";
        let mut body = Vec::new();
        for (name, filename, mime, bytes) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let disposition = match filename {
                Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
                None => format!("form-data; name=\"{name}\""),
            };
            body.extend_from_slice(
                format!("Content-Disposition: {disposition}\r\nContent-Type: {mime}\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        http.client
            .post(gw.at(&uploads))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };
    let r = multipart(&[
        ("note", None, "text/plain", b"ignored"),
        ("file", Some("pic.png"), "image/png", &png),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["state"], "complete", "{up}");
    assert_eq!(up["name"], "pic.png");
    assert_eq!(up["length"], png.len());
    let (s, photo) = http
        .send(
            Method::POST,
            &messages,
            Some(json!({"text": "a photo", "media": {"upload": up["id"], "kind": "photo"}})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{photo}");
    assert_eq!(photo["media"]["type"], "photo", "{photo}");

    // Declared PNG, bytes of a PDF: refused before anything is kept.
    let r = multipart(&[(
        "file",
        Some("fake.png"),
        "image/png",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n",
    )])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "MEDIA_TYPE_MISMATCH");
    assert!(
        v["detail"].as_str().unwrap().contains("application/pdf"),
        "{v}"
    );
    // No file part at all.
    let r = multipart(&[("other", None, "text/plain", b"x")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // tus, the same rule at the first PATCH: the offset stays where it was.
    let tus = |len: usize, meta: Option<&str>| {
        let mut req = http
            .client
            .post(gw.at(&uploads))
            .header("tus-resumable", "1.0.0")
            .header("upload-length", len.to_string());
        if let Some(m) = meta {
            req = req.header("upload-metadata", m.to_owned());
        }
        req.send()
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let patch = |location: String, offset: usize, bytes: Vec<u8>| {
        http.client
            .patch(gw.at(&location))
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(bytes)
            .send()
    };
    let created = tus(png.len(), Some(&format!("filetype {}", b64("image/jpeg"))))
        .await
        .unwrap();
    assert!(created.headers().contains_key("upload-expires"));
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let r = patch(location.clone(), 0, png.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let head = http.client.head(gw.at(&location)).send().await.unwrap();
    assert_eq!(head.headers()["upload-offset"], "0");

    // No declared type: the sniffed one is kept. A PNG cut short passes the sniff (its header
    // is fine) but not the decoder: refused as a photo, sent as a document.
    let broken: Vec<u8> = png[..png.len() / 2]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0u8, png.len() - png.len() / 2))
        .collect();
    let created = tus(broken.len(), Some(&format!("filename {}", b64("half.png"))))
        .await
        .unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let r = patch(location.clone(), 0, broken).await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let info = http.ok(Method::GET, &location, None).await;
    assert_eq!(info["mime_type"], "image/png", "sniffed: {info}");
    let (s, v) = http
        .send(
            Method::POST,
            &messages,
            Some(json!({"media": {"upload": info["id"], "kind": "photo"}})),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 422, "{v}");
    assert_eq!(v["code"], "MEDIA_INVALID");
    let (s, doc) = http
        .send(
            Method::POST,
            &messages,
            Some(json!({"media": {"upload": info["id"]}})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["media"]["type"], "document");

    // 3 MiB of "video" in 6 parts: progress events, refused as audio, sent as a video.
    let size = 3 * 1024 * 1024;
    let mut data = vec![0u8; size];
    getrandom::fill(&mut data).unwrap();
    let created = tus(
        size,
        Some(&format!(
            "filename {},filetype {}",
            b64("clip.mp4"),
            b64("video/mp4")
        )),
    )
    .await
    .unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let video: Value = created.json().await.unwrap();
    let video_id = video["id"].as_str().unwrap().to_owned();
    let r = patch(location, 0, data.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let events = gw.store.events_after(0, None, 10_000).await.unwrap();
    let of_video: Vec<(String, i64)> = events
        .iter()
        .filter(|e| e.payload["upload"] == video_id.as_str())
        .map(|e| (e.kind.clone(), e.payload["parts_done"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        of_video,
        [
            ("upload.progress".to_owned(), 1),
            ("upload.progress".to_owned(), 2),
            ("upload.progress".to_owned(), 3),
            ("upload.progress".to_owned(), 4),
            ("upload.progress".to_owned(), 5),
            ("upload.completed".to_owned(), 6)
        ]
    );
    let (s, v) = http
        .send(
            Method::POST,
            &messages,
            Some(json!({"media": {"upload": video_id, "kind": "audio"}})),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 415, "{v}");
    let (s, sent) = http
        .send(
            Method::POST,
            &messages,
            Some(
                json!({"text": "a clip", "media": {"upload": video_id, "kind": "video",
                        "duration": 3, "width": 640, "height": 360}}),
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["media"]["type"], "video", "{sent}");
    let media_id = sent["media"]["media_id"].as_str().unwrap().to_owned();
    assert_eq!(
        media_id,
        format!("{}_{}", bob.user_id, sent["id"]),
        "{sent}"
    );

    // The alias downloads it, with an ETag that revalidates, and ranges.
    let url = gw.at(&format!("/v1/accounts/{id}/media/{media_id}"));
    let whole = http.client.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &data[..]);
    let again = http
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let part = http
        .client
        .get(&url)
        .header("range", "bytes=1000-1999")
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[1000..2000]);
    let stale = http
        .client
        .get(&url)
        .header("range", "bytes=1000-1999")
        .header("if-range", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::OK,
        "If-Range mismatch: the whole file"
    );
    for bad in ["nope", "123", "x_5", "5_0"] {
        let (s, _) = http
            .fails(Method::GET, &format!("/v1/accounts/{id}/media/{bad}"), None)
            .await;
        assert_eq!(s, 400, "{bad}");
    }

    // Expiration: an upload left unfinished past Upload-Expires is gone (410, then 404).
    let created = tus(5000, None).await.unwrap();
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let left: Value = created.json().await.unwrap();
    let mut record = gw
        .store
        .upload(left["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    record.expires_at = telegate_store::now_ms() - 1;
    gw.store.put_upload(&record).await.unwrap();
    let (s, code) = http.fails(Method::GET, &location, None).await;
    assert_eq!((s, code.as_str()), (410, "UPLOAD_EXPIRED"));
    let (s, _) = http.fails(Method::GET, &location, None).await;
    assert_eq!(s, 404);
    assert!(!gw
        .config
        .data_dir
        .join("uploads")
        .join(left["id"].as_str().unwrap())
        .exists());
}
