//! The tokio driver over real loopback sockets: the control API, the state directory, and a
//! hostile connection that must not disturb anyone else.

use std::time::Duration;

use telegate_mockdc::server::{MockDc, MockDcConfig};

mod common;

use common::http;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn control_api_registers_keys_and_names_bad_input() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = dc.ready_info().control_url.clone();

    let (status, body) = http(&url, "POST", "/v1/auth-keys", r#"{"dc_id":2}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dc_id"], 2);
    let key = body["auth_key"].as_str().unwrap();
    assert_eq!(key.len(), 512);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));

    let (status, body) = http(&url, "POST", "/v1/auth-keys", r#"{"dc_id":9}"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("dc_id 9"),
        "{body}"
    );

    let (status, body) = http(&url, "POST", "/v1/auth-keys", r#"{"dc":2"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body"),
        "{body}"
    );

    let (status, body) = http(&url, "GET", "/v1/info", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["dcs"].as_array().unwrap().len(), 3);
    dc.shutdown().await;
}

#[tokio::test]
async fn state_dir_keeps_the_rsa_key_and_registered_keys() {
    let dir = std::env::temp_dir().join(format!("telegate-mockdc-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = MockDcConfig {
        dcs: 2,
        state_dir: Some(dir.clone()),
        ..Default::default()
    };
    let first = MockDc::start(config.clone()).await.unwrap();
    let fingerprint = first.ready_info().rsa.fingerprint.clone();
    let key = first.register_auth_key(2);
    first.shutdown().await;

    let second = MockDc::start(config).await.unwrap();
    assert_eq!(second.ready_info().rsa.fingerprint, fingerprint);
    let id = telegate_mockdc::crypto::AuthKey::from_bytes(key).id();
    assert!(
        second.cluster().key(2, id).is_some(),
        "registered key survived the restart"
    );
    assert!(
        second.cluster().key(1, id).is_none(),
        "keys stay on their DC"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("auth_keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key file readable by its owner only");
    }
    second.shutdown().await;

    // A corrupted state file is refused with a message that names it.
    std::fs::write(
        dir.join("auth_keys.json"),
        r#"[{"dc_id":1,"auth_key":"abc"}]"#,
    )
    .unwrap();
    let error = MockDc::start(MockDcConfig {
        dcs: 2,
        state_dir: Some(dir.clone()),
        ..Default::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(error.to_string().contains("auth_keys.json"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn garbage_closes_only_the_offending_connection() {
    let dc = MockDc::start(MockDcConfig {
        dcs: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let port = dc.ready_info().dcs[0].port;
    let addr = ("127.0.0.1", port);

    // Full transport with a bad CRC, an absurd length, an unknown obfuscated tag: each closed.
    let mut bad_crc = Vec::new();
    bad_crc.extend_from_slice(&16u32.to_le_bytes());
    bad_crc.extend_from_slice(&0u32.to_le_bytes());
    bad_crc.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let huge_len = [0xee, 0xee, 0xee, 0xee, 0xf0, 0xff, 0xff, 0x7f];
    let random_header: Vec<u8> = (0..64u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    for garbage in [bad_crc, huge_len.to_vec(), random_header] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&garbage).await.unwrap();
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection was closed");
    }

    // Everyone else is still served: a plaintext req_pq_multi gets its resPQ.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut body = 0xbe7e8ef1u32.to_le_bytes().to_vec();
    body.extend_from_slice(&[7u8; 16]);
    let mut message = Vec::new();
    message.extend_from_slice(&0i64.to_le_bytes());
    let msg_id = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64)
        << 32;
    message.extend_from_slice(&msg_id.to_le_bytes());
    message.extend_from_slice(&(body.len() as u32).to_le_bytes());
    message.extend_from_slice(&body);
    let mut frame = vec![0xee, 0xee, 0xee, 0xee];
    frame.extend_from_slice(&(message.len() as u32).to_le_bytes());
    frame.extend_from_slice(&message);
    stream.write_all(&frame).await.unwrap();
    let mut len = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut reply = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[..8], &[0; 8], "plaintext reply");
    assert_eq!(
        u32::from_le_bytes(reply[20..24].try_into().unwrap()),
        0x05162463,
        "resPQ"
    );
    assert_eq!(&reply[24..40], &[7u8; 16], "nonce echoed");
    dc.shutdown().await;
}
