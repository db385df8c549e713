//! Server-side MTProto 2.0 message encryption (core.telegram.org/mtproto/description).
//!
//! grammers-crypto only ships the client's half (`encrypt_data_v2` uses x=0 to encrypt and x=8 to
//! decrypt), so the server needs its own key derivation with the directions swapped: it decrypts
//! with x=0 and encrypts with x=8. AES-IGE itself comes from grammers-crypto.

use std::fmt;

use grammers_crypto::aes;
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A 2048-bit authorization key. `Debug` never prints the key material: a key is a password to
/// the whole account.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    bytes: [u8; 256],
    id: i64,
}

impl AuthKey {
    pub fn from_bytes(bytes: [u8; 256]) -> Self {
        let digest = Sha1::digest(bytes);
        let id = i64::from_le_bytes(digest[12..20].try_into().expect("8 bytes"));
        Self { bytes, id }
    }

    /// The low 64 bits of SHA-1 of the key: what every encrypted packet starts with.
    pub fn id(&self) -> i64 {
        self.id
    }

    pub fn bytes(&self) -> &[u8; 256] {
        &self.bytes
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why an encrypted packet was refused. Telegram answers most of these by closing the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("encrypted packet of {0} bytes is too short or not a multiple of 16 after its 24-byte header")]
    BadLength(usize),
    #[error("msg_key does not match the decrypted data (forged, corrupted or wrong key)")]
    BadMsgKey,
    #[error("inner message length {declared} does not fit the {available} decrypted bytes with 12..1024 bytes of padding")]
    BadInnerLength { declared: usize, available: usize },
}

/// Which way a packet travels; selects the `x` of the key derivation.
#[derive(Clone, Copy)]
enum Direction {
    ClientToServer = 0,
    ServerToClient = 8,
}

fn derive_aes(key: &[u8; 256], msg_key: &[u8; 16], direction: Direction) -> ([u8; 32], [u8; 32]) {
    let x = direction as usize;
    let a = Sha256::new()
        .chain_update(msg_key)
        .chain_update(&key[x..x + 36])
        .finalize();
    let b = Sha256::new()
        .chain_update(&key[40 + x..76 + x])
        .chain_update(msg_key)
        .finalize();
    let mut aes_key = [0u8; 32];
    aes_key[..8].copy_from_slice(&a[..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..].copy_from_slice(&a[24..32]);
    let mut iv = [0u8; 32];
    iv[..8].copy_from_slice(&b[..8]);
    iv[8..24].copy_from_slice(&a[8..24]);
    iv[24..].copy_from_slice(&b[24..32]);
    (aes_key, iv)
}

fn msg_key_large(key: &[u8; 256], plaintext: &[u8], direction: Direction) -> [u8; 32] {
    let x = direction as usize;
    Sha256::new()
        .chain_update(&key[88 + x..120 + x])
        .chain_update(plaintext)
        .finalize()
        .into()
}

/// A decrypted client packet: `salt 8 | session_id 8 | msg_id 8 | seq_no 4 | len 4 | body`.
#[derive(Debug)]
pub struct DecryptedMessage {
    pub salt: i64,
    pub session_id: i64,
    pub msg_id: i64,
    pub seq_no: i32,
    pub body: Vec<u8>,
    /// The token for a transport-level quick ack: the first 32 bits of msg_key_large.
    pub quick_ack_token: u32,
}

/// Reads the auth_key_id of a packet, if it is long enough to have one.
pub fn packet_auth_key_id(packet: &[u8]) -> Option<i64> {
    packet
        .get(..8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// Decrypts and authenticates a client packet (auth_key_id already matched by the caller).
pub fn decrypt_client_packet(
    key: &AuthKey,
    packet: &[u8],
) -> Result<DecryptedMessage, CryptoError> {
    // 8 auth_key_id + 16 msg_key + at least 32 header bytes + 12 padding, rounded to 16.
    if packet.len() < 24 + 48 || !(packet.len() - 24).is_multiple_of(16) {
        return Err(CryptoError::BadLength(packet.len()));
    }
    let msg_key: [u8; 16] = packet[8..24].try_into().expect("16 bytes");
    let (aes_key, iv) = derive_aes(&key.bytes, &msg_key, Direction::ClientToServer);
    let mut data = packet[24..].to_vec();
    aes::ige_decrypt(&mut data, &aes_key, &iv);
    let large = msg_key_large(&key.bytes, &data, Direction::ClientToServer);
    // The comparison need not be constant-time: msg_key is public on the wire.
    if large[8..24] != msg_key {
        return Err(CryptoError::BadMsgKey);
    }
    let read_i64 = |at: usize| i64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
    let declared = u32::from_le_bytes(data[28..32].try_into().expect("4 bytes")) as usize;
    let available = data.len() - 32;
    let padding = available.wrapping_sub(declared);
    if declared > available || !declared.is_multiple_of(4) || !(12..=1024).contains(&padding) {
        return Err(CryptoError::BadInnerLength {
            declared,
            available,
        });
    }
    let body = data[32..32 + declared].to_vec();
    Ok(DecryptedMessage {
        salt: read_i64(0),
        session_id: read_i64(8),
        msg_id: read_i64(16),
        seq_no: i32::from_le_bytes(data[24..28].try_into().expect("4 bytes")),
        body,
        quick_ack_token: u32::from_le_bytes(large[..4].try_into().expect("4 bytes")) | 0x8000_0000,
    })
}

/// Encrypts one server message (`body` is a whole TL object, e.g. a container) for the client.
pub fn encrypt_server_packet(
    key: &AuthKey,
    salt: i64,
    session_id: i64,
    msg_id: i64,
    seq_no: i32,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    let mut data = Vec::with_capacity(32 + body.len() + 64);
    data.extend_from_slice(&salt.to_le_bytes());
    data.extend_from_slice(&session_id.to_le_bytes());
    data.extend_from_slice(&msg_id.to_le_bytes());
    data.extend_from_slice(&seq_no.to_le_bytes());
    data.extend_from_slice(&(body.len() as u32).to_le_bytes());
    data.extend_from_slice(body);
    // 12..1024 bytes of padding and a multiple of 16 in total; a little randomness in the
    // amount, as the spec recommends, so lengths leak less.
    let mut rng = rand::rng();
    let min_pad = 12 + (16 - (data.len() + 12) % 16) % 16;
    let padding = min_pad + 16 * (rng.next_u32() as usize % 4);
    let start = data.len();
    data.resize(start + padding, 0);
    rng.fill_bytes(&mut data[start..]);
    let large = msg_key_large(&key.bytes, &data, Direction::ServerToClient);
    let msg_key: [u8; 16] = large[8..24].try_into().expect("16 bytes");
    let (aes_key, iv) = derive_aes(&key.bytes, &msg_key, Direction::ServerToClient);
    aes::ige_encrypt(&mut data, &aes_key, &iv);
    out.reserve(24 + data.len());
    out.extend_from_slice(&key.id.to_le_bytes());
    out.extend_from_slice(&msg_key);
    out.extend_from_slice(&data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key() -> AuthKey {
        let mut bytes = [0u8; 256];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        AuthKey::from_bytes(bytes)
    }

    /// Our server-side encryption must be readable by grammers' client-side decryption, and the
    /// client's encryption readable by ours: the two halves of the same spec, written apart.
    #[test]
    fn interoperates_with_grammers_client_crypto() {
        let key = test_key();
        let client_key = grammers_crypto::AuthKey::from_bytes(*key.bytes());

        let mut out = Vec::new();
        encrypt_server_packet(
            &key,
            11,
            22,
            33 << 32 | 1,
            5,
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &mut out,
        );
        let plain =
            grammers_crypto::decrypt_data_v2(&mut out, &client_key).expect("client decrypts");
        assert_eq!(&plain[..8], &11i64.to_le_bytes());
        assert_eq!(&plain[32..40], &[1, 2, 3, 4, 5, 6, 7, 8]);

        let mut data = Vec::new();
        data.extend_from_slice(&7i64.to_le_bytes()); // salt
        data.extend_from_slice(&8i64.to_le_bytes()); // session
        data.extend_from_slice(&(44i64 << 32).to_le_bytes()); // msg_id
        data.extend_from_slice(&1i32.to_le_bytes()); // seq_no
        data.extend_from_slice(&4u32.to_le_bytes());
        data.extend_from_slice(&[9, 9, 9, 9]);
        let mut buffer = grammers_crypto::DequeBuffer::with_capacity(data.len(), 64);
        buffer.extend(data);
        grammers_crypto::encrypt_data_v2(&mut buffer, &client_key);
        let packet: Vec<u8> = buffer.as_ref().to_vec();
        let message = decrypt_client_packet(&key, &packet).expect("server decrypts");
        assert_eq!(message.salt, 7);
        assert_eq!(message.session_id, 8);
        assert_eq!(message.msg_id, 44 << 32);
        assert_eq!(message.seq_no, 1);
        assert_eq!(message.body, vec![9, 9, 9, 9]);
        assert!(message.quick_ack_token & 0x8000_0000 != 0);
    }

    #[test]
    fn forged_or_truncated_packets_are_refused() {
        let key = test_key();
        let mut out = Vec::new();
        encrypt_server_packet(&key, 1, 2, 3, 4, &[0; 16], &mut out);
        // A server packet fed back as a client packet uses the other direction's keys.
        assert_eq!(
            decrypt_client_packet(&key, &out).unwrap_err(),
            CryptoError::BadMsgKey
        );
        assert!(matches!(
            decrypt_client_packet(&key, &out[..40]),
            Err(CryptoError::BadLength(40))
        ));
        let mut flipped = out.clone();
        flipped[30] ^= 1;
        assert_eq!(
            decrypt_client_packet(&key, &flipped).unwrap_err(),
            CryptoError::BadMsgKey
        );
    }

    #[test]
    fn debug_hides_key_material() {
        let shown = format!("{:?}", test_key());
        assert!(!shown.contains("bytes"), "{shown}");
        assert!(shown.contains("id"));
    }
}
