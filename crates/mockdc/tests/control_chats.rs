//! The control API for groups, channels, posts and invite links, and the per-method flood rules
//! that answer FLOOD_WAIT_X like Telegram (20 messages a minute to one group, 30 a second).

mod common;

use std::time::Duration;

use common::{
    channel_ref, chat_ref, connect, connect_with, create_and_login, http, no_retries, rpc_error,
    user_ref, within,
};
use grammers_client::update::Update;
use grammers_mtsender::UpdatesConfiguration;
use telegate_mockdc::server::{MockDc, MockDcConfig};

async fn start() -> MockDc {
    MockDc::start(MockDcConfig {
        dcs: 2,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn groups_channels_members_posts_and_links_over_http() {
    let dc = start().await;
    let url = dc.ready_info().control_url.clone();
    let mut bob = connect(&dc, 2, None);
    let owner = common::create_user(&dc, "+15568001", "owner_h");
    let bob_id = create_and_login(&dc, &bob.client, "+15568002", "bob_h").await;
    let carol = common::create_user(&dc, "+15568003", "carol_h");

    // A basic group with members, then one more member and one removed.
    let (status, group) = http(
        &url,
        "POST",
        "/v1/groups",
        &format!(r#"{{"owner_user_id":{owner},"title":"Ops","members":[{bob_id}]}}"#),
    )
    .await;
    assert_eq!(
        (status, group["members"].as_i64()),
        (200, Some(2)),
        "{group}"
    );
    let chat = group["chat_id"].as_i64().unwrap();
    let (status, body) = http(
        &url,
        "POST",
        &format!("/v1/groups/{chat}/members"),
        &format!(r#"{{"user_id":{carol},"admin":true}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &url,
        "POST",
        &format!("/v1/groups/{chat}/members"),
        &format!(r#"{{"user_id":{carol}}}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Telegram would answer 400 USER_ALREADY_PARTICIPANT"
    );
    let (_, state) = http(&url, "GET", &format!("/v1/groups/{chat}"), "").await;
    let roles: Vec<(i64, String)> = state["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_i64().unwrap(),
                m["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(roles.contains(&(owner, "creator".into())));
    assert!(roles.contains(&(carol, "admin".into())));
    let (status, _) = http(
        &url,
        "DELETE",
        &format!("/v1/groups/{chat}/members/{carol}"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(!dc.cluster().world().group(chat).unwrap().is_member(carol));

    // A broadcast channel with Bob in it; a post as the channel reaches Bob, online.
    let mut stream = bob
        .client
        .stream_updates(
            bob.updates.take().unwrap(),
            UpdatesConfiguration { catch_up: false },
        )
        .await
        .unwrap();
    let (status, made) = http(
        &url,
        "POST",
        "/v1/channels",
        &format!(
            r#"{{"owner_user_id":{owner},"title":"Announcements","kind":"broadcast","username":"announce_h","members":[{bob_id}]}}"#
        ),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let channel = made["channel_id"].as_i64().unwrap();
    let (status, posted) = http(
        &url,
        "POST",
        &format!("/v1/channels/{channel}/posts"),
        r#"{"text":"from the channel"}"#,
    )
    .await;
    assert_eq!(status, 200, "{posted}");
    let post = loop {
        let update = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap()
            .unwrap();
        if let Update::NewMessage(m) = update {
            if m.text() == "from the channel" {
                break m;
            }
        }
    };
    assert!(post.post());
    assert_eq!(post.id() as i64, posted["message_id"].as_i64().unwrap());
    // The public username resolves to the channel.
    let resolved = within(bob.client.resolve_username("announce_h"))
        .await
        .unwrap()
        .expect("the channel resolves");
    assert_eq!(resolved.id().bare_id(), Some(channel));

    // A link made through the API, with its limit.
    let (status, link) = http(
        &url,
        "POST",
        &format!("/v1/channels/{channel}/invites"),
        r#"{"usage_limit":5,"title":"partners"}"#,
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let (_, state) = http(&url, "GET", &format!("/v1/channels/{channel}"), "").await;
    assert_eq!(state["kind"], "broadcast");
    assert_eq!(state["invites"][0]["link"], link["link"]);
    assert_eq!(state["invites"][0]["usage_limit"], 5);

    // Errors name what is wrong.
    for (method, path, body, status, needle) in [
        (
            "POST",
            "/v1/channels".to_string(),
            format!(r#"{{"owner_user_id":{owner},"title":"X","kind":"forum"}}"#),
            400,
            "unknown variant",
        ),
        (
            "POST",
            "/v1/channels".to_string(),
            r#"{"owner_user_id":1,"title":"X","kind":"megagroup"}"#.to_string(),
            404,
            "no user 1",
        ),
        (
            "POST",
            "/v1/channels/42/posts".to_string(),
            r#"{"text":"x"}"#.to_string(),
            404,
            "no channel 42",
        ),
        (
            "POST",
            format!("/v1/channels/{channel}/posts"),
            r#"{"text":""}"#.to_string(),
            400,
            "MESSAGE_EMPTY",
        ),
        (
            "POST",
            format!("/v1/channels/{channel}/invites"),
            r#"{"usage_limit":0}"#.to_string(),
            400,
            "USAGE_LIMIT_INVALID",
        ),
        (
            "POST",
            "/v1/groups".to_string(),
            format!(r#"{{"owner_user_id":{owner},"title":" "}}"#),
            400,
            "CHAT_TITLE_EMPTY",
        ),
        (
            "GET",
            "/v1/groups/7".to_string(),
            String::new(),
            404,
            "no basic group 7",
        ),
        (
            "POST",
            "/v1/faults".to_string(),
            format!(r#"{{"channel_too_long":{{"user_id":{carol},"channel_id":{channel}}}}}"#),
            400,
            "not a member",
        ),
    ] {
        let (got, answer) = http(&url, method, &path, &body).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{path} {body}: {answer}"
        );
    }
    drop(stream);
    bob.disconnect();
    dc.shutdown().await;
}

#[tokio::test]
async fn per_chat_and_per_user_flood_rules_answer_flood_wait_x() {
    let dc = start().await;
    let url = dc.ready_info().control_url.clone();
    let alice = connect_with(&dc, 2, None, no_retries());
    let bob = connect(&dc, 2, None);
    let alice_id = create_and_login(&dc, &alice.client, "+15569001", "alice_w").await;
    let bob_id = create_and_login(&dc, &bob.client, "+15569002", "bob_w").await;
    let (_, made) = http(
        &url,
        "POST",
        "/v1/channels",
        &format!(r#"{{"owner_user_id":{alice_id},"title":"Busy","kind":"megagroup","members":[{bob_id}]}}"#),
    )
    .await;
    let busy = made["channel_id"].as_i64().unwrap();
    let (_, made) = http(
        &url,
        "POST",
        "/v1/groups",
        &format!(r#"{{"owner_user_id":{alice_id},"title":"Quiet","members":[{bob_id}]}}"#),
    )
    .await;
    let quiet = made["chat_id"].as_i64().unwrap();

    // Telegram's "20 messages per minute to the same group".
    let (status, body) = http(
        &url,
        "POST",
        "/v1/faults",
        r#"{"flood_limit":{"method":"messages.sendMessage","per_seconds":60,"max_calls":20,"scope":"chat","peers":["group","channel"]}}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let busy_ref = channel_ref(&dc, alice_id, busy);
    for i in 0..20 {
        within(alice.client.send_message(busy_ref, format!("burst {i}")))
            .await
            .unwrap();
    }
    let (code, name, seconds) =
        rpc_error(within(alice.client.send_message(busy_ref, "one too many")).await);
    assert_eq!((code, name.as_str()), (420, "FLOOD_WAIT"), "FLOOD_WAIT_X");
    let seconds = seconds.expect("FLOOD_WAIT_X carries X");
    assert!((55..=60).contains(&seconds), "X = {seconds}");
    // Other chats are not limited by that window.
    within(alice.client.send_message(chat_ref(quiet), "elsewhere"))
        .await
        .unwrap();
    within(
        alice
            .client
            .send_message(user_ref(&dc, alice_id, bob_id), "privately"),
    )
    .await
    .unwrap();
    // Bob has his own window in the same group.
    within(
        bob.client
            .send_message(channel_ref(&dc, bob_id, busy), "me too"),
    )
    .await
    .unwrap();
    assert_eq!(http(&url, "DELETE", "/v1/faults", "").await.0, 200);

    // A per-user rule over every chat (a window long enough not to depend on the clock).
    let (status, _) = http(
        &url,
        "POST",
        "/v1/faults",
        r#"{"flood_limit":{"method":"messages.sendMessage","per_seconds":30,"max_calls":3}}"#,
    )
    .await;
    assert_eq!(status, 200);
    within(alice.client.send_message(chat_ref(quiet), "1"))
        .await
        .unwrap();
    within(alice.client.send_message(busy_ref, "2"))
        .await
        .unwrap();
    within(
        alice
            .client
            .send_message(user_ref(&dc, alice_id, bob_id), "3"),
    )
    .await
    .unwrap();
    let (code, name, seconds) =
        rpc_error(within(alice.client.send_message(chat_ref(quiet), "4")).await);
    assert_eq!((code, name.as_str()), (420, "FLOOD_WAIT"));
    assert!((25..=30).contains(&seconds.unwrap()), "{seconds:?}");
    assert_eq!(http(&url, "DELETE", "/v1/faults", "").await.0, 200);

    // The Telegram preset installs both kinds of rule for the sending methods.
    let (status, listed) = http(&url, "POST", "/v1/faults", r#"{"flood_preset":"telegram"}"#).await;
    assert_eq!(status, 200, "{listed}");
    let rules = listed["faults"].as_array().unwrap();
    assert_eq!(rules.len(), 8);
    assert!(rules
        .iter()
        .any(|r| r["flood_limit"]["method"] == "messages.sendMessage"
            && r["flood_limit"]["scope"] == "chat"
            && r["flood_limit"]["max_calls"] == 20
            && r["flood_limit"]["per_seconds"] == 60));
    assert!(rules
        .iter()
        .any(|r| r["flood_limit"]["method"] == "messages.sendMessage"
            && r["flood_limit"]["scope"] == "user"
            && r["flood_limit"]["max_calls"] == 30
            && r["flood_limit"]["per_seconds"] == 1));
    let (status, body) = http(&url, "POST", "/v1/faults", r#"{"flood_preset":"lenient"}"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("flood_preset"),
        "{body}"
    );
    alice.disconnect();
    bob.disconnect();
    dc.shutdown().await;
}
