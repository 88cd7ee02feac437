//! Keyed hashes (HMAC-SHA256) under a key derived from the server secret (`auth.jwt_secret`),
//! separated by purpose. Used for the one-time tokens of mailed links, recomputed at send
//! time from a random nonce kept in the outbox, so neither the database nor a backup ever
//! holds a usable token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a keyed hash is for; the same input under two purposes gives unrelated outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The token of a mailed verification or reset link, from its nonce.
    MailLink,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::MailLink => b"mail-link",
        }
    }
}

/// Computes keyed hashes. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// The signing key is itself a keyed hash of the server secret, so it never equals the
    /// key that signs access tokens.
    pub fn new(server_secret: &str) -> Signer {
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac(
            server_secret.as_bytes(),
            &[b"markethub signing key v1"],
        ));
        Signer { key }
    }

    /// The keyed hash of `message` for `purpose`, base64url without padding (43 characters).
    pub fn sign(&self, purpose: Purpose, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(
            &self.key,
            &[purpose.label(), b"\0", message.as_bytes()],
        ))
    }
}

/// A fresh random value to sign (144 bits from the OS generator, base64url).
pub fn nonce() -> String {
    let mut buf = [0u8; 18];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_key_and_message_and_the_key_is_derived() {
        let a = Signer::new("secret one secret one secret one!");
        let b = Signer::new("secret two secret two secret two!");
        let sig = a.sign(Purpose::MailLink, "nonce");
        assert_eq!(sig.len(), 43);
        assert_eq!(sig, a.sign(Purpose::MailLink, "nonce"), "deterministic");
        assert_ne!(sig, a.sign(Purpose::MailLink, "nonce2"), "another message");
        assert_ne!(sig, b.sign(Purpose::MailLink, "nonce"), "another key");
        let direct = URL_SAFE_NO_PAD.encode(mac(
            b"secret one secret one secret one!",
            &[b"mail-link", b"\0", b"nonce"],
        ));
        assert_ne!(
            sig, direct,
            "the signing key is derived, not the secret itself"
        );
    }
}
