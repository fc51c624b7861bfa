//! VAPID (RFC 8292): the key pair every node signs with, made at the first start and kept in the database
//! ([`crate::storage::Db::push_key`]), and the `Authorization: vapid t=<JWT>, k=<key>` header of each
//! push. The JWT is ES256 over `{"aud": <the endpoint's origin>, "exp": <now + 12 h>, "sub": <contact>}`,
//! kept per origin and made again an hour before it expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use p256::SecretKey;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

use super::crypto::{decode_b64url, encode_b64url, generate_secret, uncompressed};
use crate::storage::Db;

/// How long a JWT is valid (RFC 8292 allows up to 24 hours).
const LIFETIME_SECS: u64 = 12 * 3600;
/// A kept JWT is made again when it has less than this left.
const RENEW_SECS: u64 = 3600;
/// Origins whose JWTs are kept (more are forgotten all at once: there are a handful of push services).
const MAX_ORIGINS: usize = 256;

/// The node's VAPID key and its JWTs.
pub struct Vapid {
    signing: SigningKey,
    /// The public key, base64url of its uncompressed point (for `GET /api/push/key` and `k=`).
    public: String,
    subject: String,
    tokens: Mutex<HashMap<String, (String, u64)>>,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    /// The stored key, made and stored first if there is none (whichever node stores first wins).
    pub async fn load(db: &Db, subject: &str) -> anyhow::Result<Self> {
        let candidate = encode_b64url(&generate_secret().to_bytes());
        let stored = db.push_key(&candidate, crate::storage::now_ms()).await?;
        let secret = decode_b64url(&stored)
            .and_then(|bytes| SecretKey::from_slice(&bytes).ok())
            .ok_or_else(|| anyhow::anyhow!("push_keys.private_key is not a P-256 key"))?;
        Ok(Self::new(&secret, subject))
    }

    /// The key pair of `secret`.
    pub fn new(secret: &SecretKey, subject: &str) -> Self {
        Self {
            signing: SigningKey::from(secret),
            public: encode_b64url(&uncompressed(&secret.public_key())),
            subject: subject.to_owned(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The public key, base64url (what `PushManager.subscribe` takes as `applicationServerKey`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to an endpoint of `origin` (`https://host[:port]`).
    pub fn authorization(&self, origin: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = tokens
            .get(origin)
            .filter(|(_, exp)| *exp > now + RENEW_SECS)
            .map(|(jwt, _)| jwt.clone());
        let jwt = match fresh {
            Some(jwt) => jwt,
            None => {
                let exp = now + LIFETIME_SECS;
                let jwt = self.sign(origin, exp);
                if tokens.len() >= MAX_ORIGINS {
                    tokens.clear();
                }
                tokens.insert(origin.to_owned(), (jwt.clone(), exp));
                jwt
            }
        };
        format!("vapid t={jwt}, k={}", self.public)
    }

    fn sign(&self, audience: &str, exp: u64) -> String {
        let header = encode_b64url(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": exp, "sub": self.subject });
        let claims = encode_b64url(claims.to_string().as_bytes());
        let input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", encode_b64url(&signature.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    #[test]
    fn jwts_verify_with_the_public_key_and_are_kept_per_origin() {
        let vapid = Vapid::new(&generate_secret(), "mailto:ops@example.com");
        let header = vapid.authorization("https://push.example");
        let (t, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("vapid t=..., k=...");
        assert_eq!(k, vapid.public_key());
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let key = VerifyingKey::from_sec1_bytes(&decode_b64url(k).expect("k")).expect("key");
        let signature =
            Signature::from_slice(&decode_b64url(parts[2]).expect("sig")).expect("64 bytes");
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("ES256 verifies");
        let claims: serde_json::Value =
            serde_json::from_slice(&decode_b64url(parts[1]).expect("claims")).expect("json");
        assert_eq!(claims["aud"], "https://push.example");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let exp = claims["exp"].as_u64().expect("exp");
        assert!(exp > now && exp <= now + 12 * 3600);
        assert_eq!(vapid.authorization("https://push.example"), header, "kept");
        assert_ne!(vapid.authorization("https://other.example"), header);
    }
}
