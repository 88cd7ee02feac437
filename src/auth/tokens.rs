//! Tokens: short-lived access JWTs (HS256) naming the user and the session they belong to,
//! and opaque random tokens (refresh, reset, verification) that are stored only as hashes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const ISSUER: &str = "markethub";
const ACCESS_TYPE: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Session id: revoking the session invalidates its access tokens at once.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub typ: String,
}

/// Why an access token was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

/// Signing and verification keys with the access-token lifetime.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(secret: &str, access_ttl_secs: u64) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes())?,
            decoding: DecodingKey::from_secret(secret.as_bytes())?,
            validation,
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX),
        })
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// A signed access token for `user_id` in session `session_id`, issued at `now_secs`.
    pub fn issue_access(
        &self,
        user_id: &str,
        session_id: &str,
        now_secs: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now_secs,
            exp: now_secs.saturating_add(self.access_ttl_secs),
            iss: ISSUER.to_owned(),
            typ: ACCESS_TYPE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Checks signature, algorithm, issuer, expiry and token type.
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.claims.typ != ACCESS_TYPE {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

/// `bytes` random bytes from the OS generator, base64url-encoded without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of an opaque token: SHA-256, hex. The tokens carry 256 bits of entropy,
/// so a fast hash is enough; a database leak does not reveal usable tokens.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.trim().as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify_and_carry_the_session() {
        let keys = TokenKeys::new(SECRET, 900).expect("keys");
        let now = crate::clock::now_ms() / 1000;
        let token = keys.issue_access("u1", "s1", now).expect("token");
        let claims = keys.verify_access(&token).expect("valid");
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("u1", "s1"));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn expired_forged_and_mangled_tokens_are_refused() {
        let keys = TokenKeys::new(SECRET, 900).expect("keys");
        let now = crate::clock::now_ms() / 1000;
        let old = keys.issue_access("u1", "s1", now - 3600).expect("token");
        assert_eq!(keys.verify_access(&old).err(), Some(TokenError::Expired));

        let other = TokenKeys::new("another-secret-another-secret-xx", 900).expect("keys");
        let forged = other.issue_access("u1", "s1", now).expect("token");
        assert_eq!(keys.verify_access(&forged).err(), Some(TokenError::Invalid));

        assert_eq!(
            keys.verify_access("not.a.jwt").err(),
            Some(TokenError::Invalid)
        );
        let good = keys.issue_access("u1", "s1", now).expect("token");
        let tampered = format!("{}x", good);
        assert_eq!(
            keys.verify_access(&tampered).err(),
            Some(TokenError::Invalid)
        );
    }

    #[test]
    fn random_tokens_are_unique_and_hash_deterministically() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 64);
    }
}
