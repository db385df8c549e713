//! The transfer pool against the mock DC: parallel upload parts really spread over several
//! MTProto sessions, and an upload of incompressible data survives dropped connections with the
//! same SHA-256 after download.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use telegate_core::*;
use telegate_testkit::{fast_config, TestMock, TestStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_parts_use_several_connections_and_survive_drops() {
    let mock = TestMock::start().await;
    let ts = TestStore::new();
    let store = ts.open().await;
    let a = mock.user("+15550301", "Alice").await;
    let acct = mock.seed_account(&store, a, "+15550301").await;
    let gw = Gateway::start(fast_config(), store.clone(), mock.target())
        .await
        .unwrap();
    let h = gw.account(acct).unwrap();
    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    let sessions_before = mock.dc.cluster().session_count();

    // 12 MiB of random bytes: a big file (saveBigFilePart), 24 parts, incompressible.
    let size = 12 * 1024 * 1024 + 12345;
    let data: Arc<Vec<u8>> = Arc::new((0..size).map(|_| rand::random::<u8>()).collect());
    let (parts, big) = upload_plan(size as u64).unwrap();
    assert!(big);
    let file = UploadedFile {
        file_id: rand::random::<i64>().abs(),
        parts,
        name: "random.bin".into(),
        big,
    };

    // 4 workers save parts concurrently; the mock drops every connection twice on the way.
    let next = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (h, file, data, next) = (h.clone(), file.clone(), data.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let part = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if part >= file.parts {
                    return;
                }
                let start = part as usize * UPLOAD_PART_SIZE;
                let end = (start + UPLOAD_PART_SIZE).min(data.len());
                h.save_file_part(&file, part, data[start..end].to_vec())
                    .await
                    .unwrap_or_else(|e| panic!("part {part}: {e:?}"));
            }
        });
    }
    let cluster = mock.dc.cluster().clone();
    let progress = next.clone();
    let dropper = tokio::spawn(async move {
        for at in [6, 15] {
            while progress.load(std::sync::atomic::Ordering::Relaxed) < at {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cluster.drop_connections();
        }
    });
    while let Some(r) = workers.join_next().await {
        r.unwrap();
    }
    dropper.await.unwrap();

    let (opened, _open) = h.transfer_connections();
    assert!(opened >= 2, "the pool opened {opened} connection(s)");
    let new_sessions = mock.dc.cluster().session_count() - sessions_before;
    assert!(
        new_sessions >= 2,
        "the mock saw {new_sessions} new MTProto session(s)"
    );

    assert_eq!(
        h.wait_for_state(AccountState::Connected, Duration::from_secs(20))
            .await,
        AccountState::Connected
    );
    let sent = h
        .send_media(
            &PeerRef::Me,
            &file,
            &SendMedia {
                kind: MediaKind::Document,
                mime_type: None,
                caption: "random".into(),
                parse_mode: Default::default(),
                entities: None,
                reply_to: None,
                silent: false,
                ..Default::default()
            },
            &CallOptions::default(),
        )
        .await
        .unwrap();
    let source = h.media_source(&PeerRef::Me, sent.id).await.unwrap();
    assert_eq!(source.size, size as u64);

    // Whole file, then a range starting inside a chunk and crossing several.
    let mut chunks = h.download(&source, 0, u64::MAX).unwrap();
    let mut got = Vec::with_capacity(size);
    while let Some(c) = chunks.next().await.unwrap() {
        got.extend_from_slice(&c);
    }
    assert_eq!(got.len(), size);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data[..]));

    let (from, len) = (700_000u64, 3 * 1024 * 1024u64);
    let mut chunks = h.download(&source, from, len).unwrap();
    let mut got = Vec::new();
    while let Some(c) = chunks.next().await.unwrap() {
        got.extend_from_slice(&c);
    }
    assert_eq!(&got[..], &data[from as usize..(from + len) as usize]);

    gw.shutdown().await;
}
