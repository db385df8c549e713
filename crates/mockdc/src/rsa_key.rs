//! The mock DC's RSA-2048 key pair.
//!
//! Real Telegram clients encrypt `p_q_inner_data` with one of the DC's RSA public keys during the
//! auth-key handshake ([`crate::handshake`]) and pick the key by its 64-bit *fingerprint*, listed
//! in `resPQ`. A mock DC cannot use Telegram's keys (it lacks the private halves), so it owns a key
//! of its own and the test harness teaches each client that key: Telethon takes
//! [`RsaKeyPair::public_pkcs1_pem`] through `telethon.crypto.rsa.add_key(pem, old=False)`, GramJS
//! takes `(fingerprint, n, e)` through `_serverKeys.set(..)`.
//!
//! Only the raw RSA primitive is needed (`m = c^d mod n`; Telegram's padding schemes are undone in
//! the handshake), and it runs once per new connection, so decryption uses the CRT with
//! precomputed `num-bigint` values instead of the `rsa` crate's constant-time path. The `rsa` crate
//! is used for key generation and PKCS#1 PEM encoding only. This is a test server: no effort is
//! made to resist timing side channels.

use std::convert::Infallible;
use std::fmt;

use num_bigint::BigUint;
use num_traits::{One, Zero};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use sha1::{Digest, Sha1};

/// Modulus size Telegram requires for its server keys, in bits.
pub const RSA_BITS: usize = 2048;

/// Errors loading an [`RsaKeyPair`].
#[derive(Debug, thiserror::Error)]
pub enum RsaKeyError {
    /// The text is not a PKCS#1 (`BEGIN RSA PRIVATE KEY`) nor PKCS#8 (`BEGIN PRIVATE KEY`) RSA
    /// private key, or its components are inconsistent.
    #[error("not a valid PKCS#1 or PKCS#8 RSA private key PEM: {0}")]
    Pem(String),
    /// Telegram clients only accept 2048-bit server keys.
    #[error("RSA modulus has {bits} bits, MTProto needs exactly {RSA_BITS}")]
    ModulusSize {
        /// Bit length of the key's modulus.
        bits: u64,
    },
    /// Only two-prime keys are supported.
    #[error("RSA key has {0} prime factors, only two-prime keys are supported")]
    PrimeCount(usize),
}

/// The mock DC's RSA-2048 key pair, with the values the handshake needs precomputed.
///
/// `Debug` prints the fingerprint only, never private material.
pub struct RsaKeyPair {
    key: rsa::PrivateKey,
    n: BigUint,
    n_bytes: Vec<u8>,
    e_bytes: Vec<u8>,
    fingerprint: i64,
    crt: Crt,
}

/// CRT decryption parameters: `m = m2 + q·(qinv·(m1 − m2) mod p)` with `m1 = c^dp mod p`,
/// `m2 = c^dq mod q`.
struct Crt {
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
}

impl fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("bits", &self.n.bits())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Adapts a `rand` 0.9 CSPRNG to the `rand_core` 0.10 traits the `rsa` crate's keygen wants.
struct RngCompat<'a, R: ?Sized>(&'a mut R);

impl<R: rand::CryptoRng + ?Sized> rsa::rand_core::TryRng for RngCompat<'_, R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl<R: rand::CryptoRng + ?Sized> rsa::rand_core::TryCryptoRng for RngCompat<'_, R> {}

/// Big-endian bytes of a `BoxedUint`, without leading zeros (as Telegram serializes `n` and `e`).
fn trimmed_be(x: &rsa::BoxedUint) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

fn to_biguint(x: &rsa::BoxedUint) -> BigUint {
    BigUint::from_bytes_be(&x.to_be_bytes())
}

/// Telegram's RSA key fingerprint: the last 8 bytes of `SHA1(tl_bytes(n) ‖ tl_bytes(e))`, read as
/// a little-endian `i64`, where `n` and `e` are big-endian without leading zeros.
///
/// This is the value clients look for in `resPQ.server_public_key_fingerprints`.
pub fn fingerprint_of(n_be: &[u8], e_be: &[u8]) -> i64 {
    use grammers_tl_types::Serializable;
    let mut hasher = Sha1::new();
    hasher.update(n_be.to_vec().to_bytes());
    hasher.update(e_be.to_vec().to_bytes());
    let sha = hasher.finalize();
    let mut low = [0u8; 8];
    low.copy_from_slice(&sha[12..20]);
    i64::from_le_bytes(low)
}

impl RsaKeyPair {
    /// Generates a fresh 2048-bit key with `e = 65537` from the thread-local CSPRNG.
    ///
    /// Takes a few hundred milliseconds (more in unoptimised builds); generate once per process
    /// or load a stored key with [`Self::from_pkcs1_pem`].
    pub fn generate() -> Self {
        Self::generate_with_rng(&mut rand::rng())
    }

    /// Like [`Self::generate`], with the caller's CSPRNG.
    pub fn generate_with_rng<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let key = match rsa::PrivateKey::new(&mut RngCompat(&mut *rng), RSA_BITS) {
                Ok(key) => key,
                Err(_) => continue,
            };
            // The `rsa` crate sets the top bits of both primes, so the modulus is full size;
            // `from_key` re-checks and we simply retry in the (unexpected) case it is not.
            if let Ok(pair) = Self::from_key(key) {
                return pair;
            }
        }
    }

    /// Loads a private key from PEM: PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`, what
    /// [`Self::to_pkcs1_private_pem`] writes) or PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// The modulus must have exactly 2048 bits.
    pub fn from_pkcs1_pem(pem: &str) -> Result<Self, RsaKeyError> {
        let key = match rsa::PrivateKey::from_pkcs1_pem(pem) {
            Ok(key) => key,
            Err(pkcs1_err) => {
                use rsa::pkcs8::DecodePrivateKey;
                rsa::PrivateKey::from_pkcs8_pem(pem)
                    .map_err(|_| RsaKeyError::Pem(pkcs1_err.to_string()))?
            }
        };
        Self::from_key(key)
    }

    fn from_key(key: rsa::PrivateKey) -> Result<Self, RsaKeyError> {
        let n = to_biguint(key.n());
        if n.bits() != RSA_BITS as u64 {
            return Err(RsaKeyError::ModulusSize { bits: n.bits() });
        }
        let primes = key.primes();
        if primes.len() != 2 {
            return Err(RsaKeyError::PrimeCount(primes.len()));
        }
        let d = to_biguint(key.d());
        let p = to_biguint(&primes[0]);
        let q = to_biguint(&primes[1]);
        let one = BigUint::one();
        let dp = &d % (&p - &one);
        let dq = &d % (&q - &one);
        let qinv = q
            .modinv(&p)
            .ok_or_else(|| RsaKeyError::Pem("prime factors are not coprime".into()))?;
        if &p * &q != n || p.is_zero() || q.is_zero() {
            return Err(RsaKeyError::Pem(
                "prime factors do not multiply to n".into(),
            ));
        }
        let n_bytes = trimmed_be(key.n());
        let e_bytes = trimmed_be(key.e());
        let fingerprint = fingerprint_of(&n_bytes, &e_bytes);
        Ok(Self {
            key,
            n,
            n_bytes,
            e_bytes,
            fingerprint,
            crt: Crt { p, q, dp, dq, qinv },
        })
    }

    /// The private key as PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), LF line endings.
    pub fn to_pkcs1_private_pem(&self) -> String {
        self.key
            .to_pkcs1_pem(LineEnding::LF)
            .expect("a two-prime RSA key always encodes as PKCS#1")
            .to_string()
    }

    /// The public key as PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`), the format Telegram
    /// publishes its keys in and `telethon.crypto.rsa.add_key` accepts.
    pub fn public_pkcs1_pem(&self) -> String {
        self.key
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .expect("an RSA public key always encodes as PKCS#1")
    }

    /// Telegram's 64-bit fingerprint of this key (see [`fingerprint_of`]).
    pub fn fingerprint(&self) -> i64 {
        self.fingerprint
    }

    /// The modulus `n`, big-endian, 256 bytes.
    pub fn n_bytes(&self) -> &[u8] {
        &self.n_bytes
    }

    /// The public exponent `e`, big-endian without leading zeros (`[1, 0, 1]` for 65537).
    pub fn e_bytes(&self) -> &[u8] {
        &self.e_bytes
    }

    /// The modulus `n` as a decimal string (what GramJS' key table and
    /// `grammers_crypto::rsa::Key::new` take).
    pub fn n_decimal(&self) -> String {
        self.n.to_str_radix(10)
    }

    /// The public exponent `e` as a decimal string.
    pub fn e_decimal(&self) -> String {
        BigUint::from_bytes_be(&self.e_bytes).to_str_radix(10)
    }

    /// Whether the big-endian `c` is a valid RSA input for this key, i.e. `c < n`.
    pub fn is_below_modulus(&self, c: &[u8]) -> bool {
        BigUint::from_bytes_be(c) < self.n
    }

    /// Raw RSA decryption, `m = c^d mod n` (no padding scheme), left-padded to 256 bytes.
    ///
    /// A `c ≥ n` is reduced modulo `n` first; callers that must reject such inputs (as the
    /// handshake does) check [`Self::is_below_modulus`].
    pub fn decrypt_raw(&self, c: &[u8; 256]) -> [u8; 256] {
        let Crt { p, q, dp, dq, qinv } = &self.crt;
        let c = BigUint::from_bytes_be(c);
        let m1 = (&c % p).modpow(dp, p);
        let m2 = (&c % q).modpow(dq, q);
        // h = qinv · (m1 − m2) mod p, kept non-negative.
        let diff = if m1 >= m2 {
            m1 - &m2
        } else {
            p - ((&m2 - m1) % p)
        };
        let h = (qinv * diff) % p;
        let m = m2 + h * q;
        let bytes = m.to_bytes_be();
        let mut out = [0u8; 256];
        out[256 - bytes.len()..].copy_from_slice(&bytes);
        out
    }

    /// Raw RSA encryption with the public key, `c = m^e mod n`, left-padded to 256 bytes.
    ///
    /// Not used by the server; handy for tests and test clients.
    pub fn encrypt_raw(&self, m: &[u8; 256]) -> [u8; 256] {
        let c = BigUint::from_bytes_be(m).modpow(&BigUint::from_bytes_be(&self.e_bytes), &self.n);
        let bytes = c.to_bytes_be();
        let mut out = [0u8; 256];
        out[256 - bytes.len()..].copy_from_slice(&bytes);
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, OnceLock};

    /// One generated key shared by all tests of the crate (keygen is the slow part).
    pub(crate) fn test_key() -> Arc<RsaKeyPair> {
        static KEY: OnceLock<Arc<RsaKeyPair>> = OnceLock::new();
        KEY.get_or_init(|| Arc::new(RsaKeyPair::generate())).clone()
    }

    /// Telegram's production server key in PEM, as my.telegram.org shows it to developers: the
    /// same `n` grammers hard-codes for fingerprint -3414540481677951611 (checked below, and with
    /// Telethon's own `_compute_fingerprint` when this test was written).
    const TELEGRAM_PROD_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEA6LszBcC1LGzyr992NzE0ieY+BSaOW622Aa9Bd4ZHLl+TuFQ4lo4g
5nKaMBwK/BIb9xUfg0Q29/2mgIR6Zr9krM7HjuIcCzFvDtr+L0GQjae9H0pRB2OO
62cECs5HKhT5DZ98K33vmWiLowc621dQuwKWSQKjWf50XYFw42h21P2KXUGyp2y/
+aEyZ+uVgLLQbRA1dEjSDZ2iGRy12Mk5gpYc397aYp438fsJoHIgJ2lgMv5h7WY9
t6N/byY9Nw9p21Og3AoXSL2q/2IJ1WRUhebgAdGVMlV1fkuOQoEzR7EdpqtQD9Cs
5+bfo3Nhmcyvk5ftB0WkJ9z6bNZ7yxrP8wIDAQAB
-----END RSA PUBLIC KEY-----";

    #[test]
    fn rsa_key_fingerprint_of_telegram_keys() {
        // (n in decimal, fingerprint) as hard-coded in grammers-mtproto 0.11's
        // `authentication::key_for_fingerprint` (production and test DC keys).
        let known = [
            (
                "29379598170669337022986177149456128565388431120058863768162556424047512191330847455146576344487764408661701890505066208632169112269581063774293102577308490531282748465986139880977280302242772832972539403531316010870401287642763009136156734339538042419388722777357134487746169093539093850251243897188928735903389451772730245253062963384108812842079887538976360465290946139638691491496062099570836476454855996319192747663615955633778034897140982517446405334423701359108810182097749467210509584293428076654573384828809574217079944388301239431309115013843331317877374435868468779972014486325557807783825502498215169806323",
                -3414540481677951611_i64,
            ),
            (
                "25342889448840415564971689590713473206898847759084779052582026594546022463853940585885215951168491965708222649399180603818074200620463776135424884632162512403163793083921641631564740959529419359595852941166848940585952337613333022396096584117954892216031229237302943701877588456738335398602461675225081791820393153757504952636234951323237820036543581047826906120927972487366805292115792231423684261262330394324750785450942589751755390156647751460719351439969059949569615302809050721500330239005077889855323917509948255722081644689442127297605422579707142646660768825302832201908302295573257427896031830742328565032949",
                -5595554452916591101_i64,
            ),
        ];
        for (n, fp) in known {
            let n = BigUint::parse_bytes(n.as_bytes(), 10)
                .unwrap()
                .to_bytes_be();
            assert_eq!(fingerprint_of(&n, &[1, 0, 1]), fp);
        }

        // The same production key from its PEM: 0xd09d1d85de64fd85 is the fingerprint clients
        // list for it.
        use rsa::pkcs1::DecodeRsaPublicKey;
        let public = rsa::PublicKey::from_pkcs1_pem(TELEGRAM_PROD_PEM).unwrap();
        let fp = fingerprint_of(&trimmed_be(public.n()), &trimmed_be(public.e()));
        assert_eq!(fp, -3414540481677951611_i64);
        assert_eq!(fp as u64, 0xd09d_1d85_de64_fd85);
    }

    #[test]
    fn rsa_key_pem_round_trip() {
        let key = test_key();
        let pem = key.to_pkcs1_private_pem();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let back = RsaKeyPair::from_pkcs1_pem(&pem).unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
        assert_eq!(back.n_bytes(), key.n_bytes());
        assert_eq!(back.e_bytes(), &[1, 0, 1]);
        assert_eq!(back.to_pkcs1_private_pem(), pem);

        let public = key.public_pkcs1_pem();
        assert!(public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        use rsa::pkcs1::DecodeRsaPublicKey;
        let parsed = rsa::PublicKey::from_pkcs1_pem(&public).unwrap();
        assert_eq!(&*parsed.n_bytes(), key.n_bytes());
        assert_eq!(
            fingerprint_of(&parsed.n_bytes(), &parsed.e_bytes()),
            key.fingerprint()
        );

        // PKCS#8 input is accepted too.
        use rsa::pkcs8::EncodePrivateKey;
        let pkcs8 = key.key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(
            RsaKeyPair::from_pkcs1_pem(&pkcs8).unwrap().fingerprint(),
            key.fingerprint()
        );

        assert!(matches!(
            RsaKeyPair::from_pkcs1_pem("not a key"),
            Err(RsaKeyError::Pem(_))
        ));
        assert!(RsaKeyPair::from_pkcs1_pem(TELEGRAM_PROD_PEM).is_err());
    }

    #[test]
    fn rsa_key_debug_hides_private_material() {
        let key = test_key();
        let dbg = format!("{key:?}");
        assert!(dbg.contains(&key.fingerprint().to_string()));
        assert!(!dbg.contains(&key.crt.p.to_str_radix(10)));
        assert!(!dbg.contains(&key.crt.p.to_str_radix(16)));
        assert!(dbg.len() < 100, "{dbg}");
    }

    #[test]
    fn rsa_key_shape() {
        let key = test_key();
        assert_eq!(key.n_bytes().len(), 256);
        assert!(key.n_bytes()[0] & 0x80 != 0);
        assert_eq!(key.e_decimal(), "65537");
        assert_eq!(
            BigUint::parse_bytes(key.n_decimal().as_bytes(), 10)
                .unwrap()
                .to_bytes_be(),
            key.n_bytes()
        );
    }

    #[test]
    fn rsa_key_decrypt_raw_inverts_encrypt() {
        let key = test_key();
        let mut rng = rand::rng();
        for i in 0..8 {
            let mut m = [0u8; 256];
            rand::Rng::fill(&mut rng, &mut m[..]);
            m[0] = if i == 0 { 0 } else { m[0] & 0x7f };
            if i == 1 {
                m = [0u8; 256];
                m[255] = 1;
            }
            let c = key.encrypt_raw(&m);
            assert!(key.is_below_modulus(&c));
            assert_eq!(key.decrypt_raw(&c), m);
        }
        // Cross-check CRT against the plain `c^d mod n` on one value.
        let mut c = [0u8; 256];
        rand::Rng::fill(&mut rng, &mut c[1..]);
        let d = to_biguint(key.key.d());
        let plain = BigUint::from_bytes_be(&c).modpow(&d, &key.n).to_bytes_be();
        let crt = key.decrypt_raw(&c);
        assert_eq!(&crt[256 - plain.len()..], &plain[..]);
        assert!(crt[..256 - plain.len()].iter().all(|&b| b == 0));
    }

    #[test]
    fn rsa_key_rejects_other_sizes() {
        let mut rng = RngCompat(&mut rand::rng());
        let small = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
        let pem = small.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            RsaKeyPair::from_pkcs1_pem(&pem),
            Err(RsaKeyError::ModulusSize { bits: 1024 })
        ));
    }
}
