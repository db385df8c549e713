//! The server side of Telegram's SRP two-factor authentication (core.telegram.org/api/srp), sans-IO.
//!
//! All hashes are SHA-256, numbers are big-endian and `pad(x)` left-pads to 256 bytes.
//! `p` is Telegram's 2048-bit safe prime ([`crate::handshake::TELEGRAM_DH_PRIME`]) and `g` = 3.
//!
//! - Setting a password stores a [`PasswordVerifier`]: `salt1`, `salt2` and `v = g^x mod p` with
//!   `x = PH2(password, salt1, salt2)`; the password itself is never kept.
//! - `account.getPassword` makes one [`SrpChallenge`] (secret `b`, `srp_B`, a fresh `srp_id`) and
//!   reports the [`algo_params`] as `current_algo` (and [`new_algo_params`] as `new_algo`).
//! - `auth.checkPassword` calls [`verify`] with the client's `srp_id`, `A` and `M1`.
//!
//! Each challenge must be used for one [`verify`] call only: the caller drops it afterwards,
//! whatever the result, and a new `account.getPassword` makes a new one.

use std::fmt;
use std::sync::OnceLock;

use num_bigint::BigUint;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::handshake::{DH_G, TELEGRAM_DH_PRIME};

/// PBKDF2-HMAC-SHA512 iterations of `passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow`.
pub const PBKDF2_ITERATIONS: u32 = 100_000;
/// Length of the `salt1` the server offers in `new_algo` (Telegram sends 8 bytes).
pub const NEW_SALT1_LEN: usize = 8;
/// Random bytes a client appends to `new_algo.salt1` before it sets a password.
pub const CLIENT_SALT1_SUFFIX_LEN: usize = 32;
/// Length of `salt2` (Telegram sends 16 bytes).
pub const SALT2_LEN: usize = 16;
/// Length of `srp_B`, `A` and `pad(x)`.
pub const SRP_BYTES: usize = 256;

/// Why `auth.checkPassword` fails; the variants map to Telegram's RPC errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum SrpError {
    /// `srp_id` is not the one of the current challenge (`SRP_ID_INVALID`).
    #[error("SRP_ID_INVALID")]
    SrpIdInvalid,
    /// `A` is not in `(1, p)` (Telegram answers `SRP_A_INVALID`).
    #[error("SRP_A_INVALID")]
    BadA,
    /// `M1` does not match: wrong password or a tampered proof (`PASSWORD_HASH_INVALID`).
    #[error("PASSWORD_HASH_INVALID")]
    PasswordHashInvalid,
}

/// What the server stores for an account with 2FA enabled: the two salts and `v = g^x mod p`.
///
/// `Debug` shows only the salt lengths: `v` is a password-equivalent for offline guessing.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordVerifier {
    salt1: Vec<u8>,
    salt2: Vec<u8>,
    v: BigUint,
}

impl fmt::Debug for PasswordVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordVerifier")
            .field("salt1_len", &self.salt1.len())
            .field("salt2_len", &self.salt2.len())
            .field("v", &"<redacted>")
            .finish()
    }
}

impl PasswordVerifier {
    /// A verifier for `password` with fresh salts shaped like the ones Telegram stores:
    /// `salt1` = 8 server bytes + the 32 bytes a client appends (40 in all), `salt2` = 16 bytes.
    ///
    /// Runs PBKDF2-HMAC-SHA512 with 100,000 iterations (tens of milliseconds with optimised deps).
    pub fn new<R: rand::CryptoRng + ?Sized>(password: &str, rng: &mut R) -> Self {
        let mut salt1 = vec![0u8; NEW_SALT1_LEN + CLIENT_SALT1_SUFFIX_LEN];
        rng.fill_bytes(&mut salt1);
        let mut salt2 = vec![0u8; SALT2_LEN];
        rng.fill_bytes(&mut salt2);
        Self::with_salts(password, salt1, salt2)
    }

    /// A verifier for `password` with the given salts (deterministic; for fixtures and for a
    /// client-chosen `salt1` = `new_algo.salt1` + its 32 random bytes).
    pub fn with_salts(password: &str, salt1: Vec<u8>, salt2: Vec<u8>) -> Self {
        let x = BigUint::from_bytes_be(&ph2(password.as_bytes(), &salt1, &salt2));
        let v = g().modpow(&x, p());
        Self { salt1, salt2, v }
    }

    /// The verifier a client sends when it sets a password (`account.passwordInputSettings`:
    /// `new_algo` salts and `new_password_hash` = `pad(g^x mod p)`), or one read back from storage.
    /// `None` unless `1 < v < p`.
    pub fn from_password_hash(
        salt1: Vec<u8>,
        salt2: Vec<u8>,
        password_hash: &[u8],
    ) -> Option<Self> {
        let v = BigUint::from_bytes_be(password_hash);
        (v > BigUint::from(1u8) && &v < p()).then_some(Self { salt1, salt2, v })
    }

    /// `salt1` as reported in `current_algo`.
    pub fn salt1(&self) -> &[u8] {
        &self.salt1
    }

    /// `salt2` as reported in `current_algo`.
    pub fn salt2(&self) -> &[u8] {
        &self.salt2
    }

    /// `pad(v)`, for persisting the verifier (see [`Self::from_password_hash`]). Treat it like a
    /// password hash: it allows offline guessing.
    pub fn password_hash(&self) -> [u8; SRP_BYTES] {
        pad256(&self.v)
    }
}

/// One `account.getPassword` answer's SRP state: the public `srp_id` and `srp_B`, and the secret `b`.
///
/// Use it for one [`verify`] call and then drop it (see the module docs). `Debug` hides `b`.
pub struct SrpChallenge {
    /// The `srp_id` sent in `account.password`; `auth.checkPassword` must echo it.
    pub srp_id: i64,
    /// `srp_B` = `pad(B)`, `B = (k·v + g^b) mod p`.
    pub srp_b: [u8; SRP_BYTES],
    b: BigUint,
}

impl fmt::Debug for SrpChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrpChallenge")
            .field("srp_id", &self.srp_id)
            .field("b", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A fresh challenge for `verifier`: random secret `b` (256 bytes), `k = H(p | pad(g))`,
/// `B = (k·v + g^b) mod p`, and a random `srp_id`.
pub fn challenge<R: rand::CryptoRng + ?Sized>(
    verifier: &PasswordVerifier,
    rng: &mut R,
) -> SrpChallenge {
    let kv = (k() * &verifier.v) % p();
    loop {
        let mut b_bytes = [0u8; SRP_BYTES];
        rng.fill_bytes(&mut b_bytes);
        let b = BigUint::from_bytes_be(&b_bytes);
        let big_b = (&kv + g().modpow(&b, p())) % p();
        // B ∈ {0, 1} happens with probability ~2^-2047; redraw rather than send a degenerate B.
        if big_b <= BigUint::from(1u8) {
            continue;
        }
        return SrpChallenge {
            srp_id: rng.next_u64() as i64,
            srp_b: pad256(&big_b),
            b,
        };
    }
}

/// Checks `auth.checkPassword`'s `inputCheckPasswordSRP{srp_id, A, M1}` against `challenge`.
///
/// `u = H(pad(A) | pad(B))`, `S = (A·v^u)^b mod p`, `K = H(pad(S))`,
/// `M1' = H((H(p) xor H(pad(g))) | H(salt1) | H(salt2) | pad(A) | pad(B) | K)`; `Ok(())` iff
/// `M1 == M1'` (compared in constant time). The caller must drop `challenge` afterwards.
pub fn verify(
    verifier: &PasswordVerifier,
    challenge: &SrpChallenge,
    srp_id: i64,
    a: &[u8],
    m1: &[u8],
) -> Result<(), SrpError> {
    if srp_id != challenge.srp_id {
        return Err(SrpError::SrpIdInvalid);
    }
    let p = p();
    let big_a = BigUint::from_bytes_be(a);
    // 1 < A < p; this also rules out A ≡ 0 (mod p), which would force S = 0.
    if big_a <= BigUint::from(1u8) || &big_a >= p {
        return Err(SrpError::BadA);
    }
    let a_padded = pad256(&big_a);
    let u = BigUint::from_bytes_be(&sha256(&[&a_padded, &challenge.srp_b]));
    if u == BigUint::ZERO {
        return Err(SrpError::BadA);
    }
    let s = (big_a * verifier.v.modpow(&u, p)).modpow(&challenge.b, p);
    let key = sha256(&[&pad256(&s)]);

    let h_p = sha256(&[&TELEGRAM_DH_PRIME]);
    let h_g = sha256(&[&pad256(g())]);
    let mut p_xor_g = [0u8; 32];
    for (out, (x, y)) in p_xor_g.iter_mut().zip(h_p.iter().zip(&h_g)) {
        *out = x ^ y;
    }
    let expected = sha256(&[
        &p_xor_g,
        &sha256(&[&verifier.salt1]),
        &sha256(&[&verifier.salt2]),
        &a_padded,
        &challenge.srp_b,
        &key,
    ]);
    // Slice ct_eq returns "not equal" for a length mismatch.
    if bool::from(expected.as_slice().ct_eq(m1)) {
        Ok(())
    } else {
        Err(SrpError::PasswordHashInvalid)
    }
}

/// `passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow` fields for
/// `account.password.current_algo`: `(salt1, salt2, g, p)`.
pub fn algo_params(verifier: &PasswordVerifier) -> (Vec<u8>, Vec<u8>, i32, Vec<u8>) {
    (
        verifier.salt1.clone(),
        verifier.salt2.clone(),
        DH_G,
        TELEGRAM_DH_PRIME.to_vec(),
    )
}

/// Fresh `account.password.new_algo` fields `(salt1, salt2, g, p)` as Telegram sends them:
/// an 8-byte `salt1` (the client appends 32 random bytes before using it) and a 16-byte `salt2`.
pub fn new_algo_params<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
) -> (Vec<u8>, Vec<u8>, i32, Vec<u8>) {
    let mut salt1 = vec![0u8; NEW_SALT1_LEN];
    rng.fill_bytes(&mut salt1);
    let mut salt2 = vec![0u8; SALT2_LEN];
    rng.fill_bytes(&mut salt2);
    (salt1, salt2, DH_G, TELEGRAM_DH_PRIME.to_vec())
}

fn p() -> &'static BigUint {
    static P: OnceLock<BigUint> = OnceLock::new();
    P.get_or_init(|| BigUint::from_bytes_be(&TELEGRAM_DH_PRIME))
}

fn g() -> &'static BigUint {
    static G: OnceLock<BigUint> = OnceLock::new();
    G.get_or_init(|| BigUint::from(DH_G as u32))
}

/// `k = H(p | pad(g))`.
fn k() -> &'static BigUint {
    static K: OnceLock<BigUint> = OnceLock::new();
    K.get_or_init(|| BigUint::from_bytes_be(&sha256(&[&TELEGRAM_DH_PRIME, &pad256(g())])))
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Big-endian, left-padded to 256 bytes. Callers only pass values below `p` < 2^2048.
fn pad256(x: &BigUint) -> [u8; SRP_BYTES] {
    let bytes = x.to_bytes_be();
    let mut out = [0u8; SRP_BYTES];
    out[SRP_BYTES - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// `SH(data, salt) = H(salt | data | salt)`.
fn sh(data: &[u8], salt: &[u8]) -> [u8; 32] {
    sha256(&[salt, data, salt])
}

/// `PH2 = SH(pbkdf2_hmac_sha512(PH1, salt1, 100000, 64 bytes), salt2)` with
/// `PH1 = SH(SH(password, salt1), salt2)`.
fn ph2(password: &[u8], salt1: &[u8], salt2: &[u8]) -> [u8; 32] {
    let ph1 = sh(&sh(password, salt1), salt2);
    let mut dk = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(&ph1, salt1, PBKDF2_ITERATIONS, &mut dk);
    sh(&dk, salt2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};
    use rand::rngs::StdRng;
    use rand::{RngCore, SeedableRng};
    use std::time::Instant;

    const PASSWORD: &str = "correct horse battery staple";

    fn rng() -> StdRng {
        StdRng::seed_from_u64(0x05ee_d2fa)
    }

    /// One verifier for the whole module: PBKDF2 dominates the run time.
    fn verifier() -> &'static PasswordVerifier {
        static V: OnceLock<PasswordVerifier> = OnceLock::new();
        V.get_or_init(|| PasswordVerifier::new(PASSWORD, &mut rng()))
    }

    /// grammers' client math: `(M1, A)` for `password` against `challenge`.
    fn client_proof(
        verifier: &PasswordVerifier,
        challenge: &SrpChallenge,
        password: &str,
        rng: &mut impl RngCore,
    ) -> ([u8; 32], [u8; 256]) {
        let (salt1, salt2, g, p) = algo_params(verifier);
        let mut a = vec![0u8; 256];
        rng.fill_bytes(&mut a);
        calculate_2fa(
            &salt1,
            &salt2,
            &p,
            &g,
            challenge.srp_b.to_vec(),
            a,
            password,
        )
    }

    #[test]
    fn srp_new_timing_and_shape() {
        let start = Instant::now();
        let v = PasswordVerifier::new("hunter2", &mut rand::rng());
        let elapsed = start.elapsed();
        eprintln!("PasswordVerifier::new took {elapsed:?}");
        assert_eq!(v.salt1().len(), 40);
        assert_eq!(v.salt2().len(), 16);
        let (salt1, salt2, g, p) = algo_params(&v);
        assert_eq!((salt1.as_slice(), salt2.as_slice()), (v.salt1(), v.salt2()));
        assert_eq!((g, p.as_slice()), (3, TELEGRAM_DH_PRIME.as_slice()));
    }

    #[test]
    fn srp_round_trip_with_grammers() {
        let mut rng = rng();
        let v = verifier();
        for _ in 0..3 {
            let ch = challenge(v, &mut rng);
            let big_b = BigUint::from_bytes_be(&ch.srp_b);
            assert!(big_b > BigUint::from(1u8) && &big_b < p());
            let (m1, a) = client_proof(v, &ch, PASSWORD, &mut rng);
            assert_eq!(verify(v, &ch, ch.srp_id, &a, &m1), Ok(()));
        }
    }

    #[test]
    fn srp_wrong_password_is_rejected() {
        let mut rng = rng();
        let v = verifier();
        let ch = challenge(v, &mut rng);
        let (m1, a) = client_proof(v, &ch, "Correct horse battery staple", &mut rng);
        assert_eq!(
            verify(v, &ch, ch.srp_id, &a, &m1),
            Err(SrpError::PasswordHashInvalid)
        );
    }

    #[test]
    fn srp_stale_or_other_srp_id_is_rejected() {
        let mut rng = rng();
        let v = verifier();
        let old = challenge(v, &mut rng);
        let new = challenge(v, &mut rng);
        assert_ne!(old.srp_id, new.srp_id);
        let (m1, a) = client_proof(v, &old, PASSWORD, &mut rng);
        // A proof for the old challenge, presented against the current one.
        assert_eq!(
            verify(v, &new, old.srp_id, &a, &m1),
            Err(SrpError::SrpIdInvalid)
        );
        assert_eq!(
            verify(v, &old, old.srp_id.wrapping_add(1), &a, &m1),
            Err(SrpError::SrpIdInvalid)
        );
        // The right id with the other challenge's proof still fails on M1.
        assert_eq!(
            verify(v, &new, new.srp_id, &a, &m1),
            Err(SrpError::PasswordHashInvalid)
        );
    }

    #[test]
    fn srp_bad_a_is_rejected() {
        let mut rng = rng();
        let v = verifier();
        let ch = challenge(v, &mut rng);
        let (m1, a) = client_proof(v, &ch, PASSWORD, &mut rng);
        let p_big = p();
        let a_plus_p = (BigUint::from_bytes_be(&a) + p_big).to_bytes_be();
        let bad: [Vec<u8>; 8] = [
            vec![],
            vec![0u8; 256],
            pad256(&BigUint::from(1u8)).to_vec(),
            TELEGRAM_DH_PRIME.to_vec(),
            (p_big + 1u8).to_bytes_be(),
            vec![0xff; 256],
            a_plus_p, // ≡ A (mod p) but not reduced
            [vec![0u8], TELEGRAM_DH_PRIME.to_vec()].concat(),
        ];
        for bad_a in &bad {
            assert_eq!(
                verify(v, &ch, ch.srp_id, bad_a, &m1),
                Err(SrpError::BadA),
                "A = {}",
                hex::encode(bad_a)
            );
        }
        // Leading zero bytes alone are harmless.
        let a_long = [vec![0u8; 4], a.to_vec()].concat();
        assert_eq!(verify(v, &ch, ch.srp_id, &a_long, &m1), Ok(()));
    }

    #[test]
    fn srp_tampered_m1_is_rejected() {
        let mut rng = rng();
        let v = verifier();
        let ch = challenge(v, &mut rng);
        let (m1, a) = client_proof(v, &ch, PASSWORD, &mut rng);
        for i in [0, 17, 31] {
            let mut bad = m1;
            bad[i] ^= 0x01;
            assert_eq!(
                verify(v, &ch, ch.srp_id, &a, &bad),
                Err(SrpError::PasswordHashInvalid)
            );
        }
        assert_eq!(
            verify(v, &ch, ch.srp_id, &a, &m1[..31]),
            Err(SrpError::PasswordHashInvalid)
        );
        assert_eq!(
            verify(v, &ch, ch.srp_id, &a, &[m1.as_slice(), &[0]].concat()),
            Err(SrpError::PasswordHashInvalid)
        );
        assert_eq!(
            verify(v, &ch, ch.srp_id, &a, &[]),
            Err(SrpError::PasswordHashInvalid)
        );
        // A tampered A (still in range) breaks M1 too.
        let mut a2 = a;
        a2[255] ^= 0x01;
        assert_eq!(
            verify(v, &ch, ch.srp_id, &a2, &m1),
            Err(SrpError::PasswordHashInvalid)
        );
        assert_eq!(verify(v, &ch, ch.srp_id, &a, &m1), Ok(()));
    }

    #[test]
    fn srp_grammers_accepts_p_and_g() {
        let (_, _, g, p) = algo_params(verifier());
        assert!(check_p_and_g(&p, &g));
        let (salt1, salt2, g, p) = new_algo_params(&mut rng());
        assert_eq!((salt1.len(), salt2.len()), (NEW_SALT1_LEN, SALT2_LEN));
        assert!(check_p_and_g(&p, &g));
    }

    #[test]
    fn srp_client_extended_new_algo_salt_and_stored_hash() {
        let mut rng = rng();
        // A client appends 32 bytes to new_algo.salt1 and sets the password.
        let (mut salt1, salt2, _, _) = new_algo_params(&mut rng);
        let mut suffix = [0u8; CLIENT_SALT1_SUFFIX_LEN];
        rng.fill_bytes(&mut suffix);
        salt1.extend_from_slice(&suffix);
        let set = PasswordVerifier::with_salts("pw", salt1.clone(), salt2.clone());
        // Persist and reload.
        let stored = PasswordVerifier::from_password_hash(
            salt1.clone(),
            salt2.clone(),
            &set.password_hash(),
        )
        .expect("valid verifier");
        assert_eq!(stored, set);
        let ch = challenge(&stored, &mut rng);
        let (m1, a) = client_proof(&stored, &ch, "pw", &mut rng);
        assert_eq!(verify(&stored, &ch, ch.srp_id, &a, &m1), Ok(()));
        // Degenerate verifiers are refused.
        for bad in [
            vec![0u8; 256],
            vec![1u8],
            TELEGRAM_DH_PRIME.to_vec(),
            vec![0xff; 256],
        ] {
            assert!(
                PasswordVerifier::from_password_hash(salt1.clone(), salt2.clone(), &bad).is_none()
            );
        }
    }

    #[test]
    fn srp_debug_hides_secrets() {
        let v = verifier();
        let ch = challenge(v, &mut rng());
        let dv = format!("{v:?}");
        let dc = format!("{ch:?}");
        for shown in [&dv, &dc] {
            assert!(!shown.contains(PASSWORD));
            assert!(!shown.contains(&hex::encode(v.password_hash())[..16]));
            assert!(!shown.contains(&hex::encode(ch.b.to_bytes_be())[..16]));
            assert!(!shown.contains(&format!("{}", ch.b)[..16]));
            assert!(!shown.contains(&format!("{}", v.v)[..16]));
            assert!(!shown.contains("["), "no byte arrays in {shown}");
            assert!(shown.contains("redacted"));
        }
        assert!(dc.contains(&ch.srp_id.to_string()));
    }
}
