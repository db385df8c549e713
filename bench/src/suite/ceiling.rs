//! The raw ceilings every contender is measured against in the same run:
//!
//! - **encrypt per core**: what a client must at least do to every byte it uploads —
//!   SHA-256 (the msg_key) plus AES-256-IGE encryption of the packet, on one thread.
//! - **encrypted loopback pipe**: one MTProto 2.0 connection with nothing else: a client thread
//!   encrypts 512 KiB messages with grammers' `encrypt_data_v2` (the function grammers' own
//!   sender uses) and writes them to a loopback TCP socket; a server thread reads them and
//!   decrypts and authenticates each with the mock DC's `decrypt_client_packet`. No TL, no RPC,
//!   no gzip: an upload through any client or gateway cannot beat this on one connection.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use grammers_crypto::DequeBuffer;
use sha2::{Digest, Sha256};

/// Payload per message, as an upload part.
pub const PART: usize = 512 * 1024;

/// MB/s (10^6 bytes) of SHA-256 + AES-256-IGE encryption of `PART`-byte buffers on this thread.
pub fn encrypt_per_core(duration: Duration) -> f64 {
    let mut buffer = vec![0u8; PART];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut buffer);
    let key: [u8; 32] = rand::random();
    let iv: [u8; 32] = rand::random();
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < duration {
        std::hint::black_box(Sha256::digest(&buffer));
        grammers_crypto::aes::ige_encrypt(&mut buffer, &key, &iv);
        rounds += 1;
    }
    (rounds * PART as u64) as f64 / 1e6 / start.elapsed().as_secs_f64()
}

/// MB/s of payload through one encrypted loopback connection (client encrypt → TCP → server
/// decrypt and check), for `duration`.
pub fn loopback_pipe(duration: Duration) -> anyhow::Result<f64> {
    let key_bytes: [u8; 256] = {
        let mut k = [0u8; 256];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut k);
        k
    };
    let listener = TcpListener::bind("127.0.0.1:0").context("bind the pipe's listener")?;
    let addr = listener.local_addr()?;

    let server = std::thread::Builder::new()
        .name("ceiling-server".into())
        .spawn(move || -> anyhow::Result<u64> {
            let (mut stream, _) = listener.accept()?;
            let key = telegate_mockdc::crypto::AuthKey::from_bytes(key_bytes);
            let mut payload = 0u64;
            let mut frame = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    return Ok(payload); // the client closed: done
                }
                frame.resize(u32::from_le_bytes(len) as usize, 0);
                stream.read_exact(&mut frame)?;
                let message = telegate_mockdc::crypto::decrypt_client_packet(&key, &frame)
                    .map_err(|e| anyhow::anyhow!("pipe: server failed to decrypt: {e:?}"))?;
                payload += message.body.len() as u64;
            }
        })?;

    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let key = grammers_crypto::AuthKey::from_bytes(key_bytes);
    let mut body = vec![0u8; PART];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut body);
    let start = Instant::now();
    let mut msg_id = 1i64 << 32;
    while start.elapsed() < duration {
        // salt, session_id, msg_id, seq_no, length, body: the plaintext of one message.
        let mut buffer = DequeBuffer::with_capacity(PART + 64, 32);
        buffer.extend(0i64.to_le_bytes());
        buffer.extend(1i64.to_le_bytes());
        buffer.extend(msg_id.to_le_bytes());
        buffer.extend(1i32.to_le_bytes());
        buffer.extend((PART as u32).to_le_bytes());
        buffer.extend(&body);
        grammers_crypto::encrypt_data_v2(&mut buffer, &key);
        let packet = buffer.as_ref();
        stream.write_all(&(packet.len() as u32).to_le_bytes())?;
        stream.write_all(packet)?;
        msg_id += 4;
        body[0] = body[0].wrapping_add(1);
    }
    drop(stream);
    let payload = server
        .join()
        .map_err(|_| anyhow::anyhow!("pipe server panicked"))??;
    // The server finishes what was in flight shortly after; count it against the same clock.
    Ok(payload as f64 / 1e6 / start.elapsed().as_secs_f64())
}
