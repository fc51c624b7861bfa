//! A push service of the test's own, on loopback: the receiving side of RFC 8030 as a browser's push
//! service runs it. Each POST to `/push/<name>` is checked (VAPID: an ES256 JWT signed by the server's
//! `/api/push/key`, `aud` this origin, `exp` within 12 hours, a contact in `sub`; `Content-Encoding:
//! aes128gcm`; `TTL`) and decrypted with the browser's keys the test made ([`Device`], playing the
//! browser), then handed to the test. Answers are scripted per device (201 unless told otherwise).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64ct::{Base64UrlUnpadded, Encoding};
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::helpers::PATIENCE;

/// A push as the service received it, decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The payload.
    pub json: Value,
    /// The `Urgency` header.
    pub urgency: String,
    /// When it came.
    pub at: Instant,
}

/// A browser's subscription keys: the test holds the private half.
pub struct Device {
    pub name: String,
    secret: SecretKey,
    auth: [u8; 16],
}

impl Device {
    /// Fresh keys.
    pub fn new(name: &str) -> Self {
        let mut bytes = [0u8; 32];
        let secret = loop {
            getrandom::fill(&mut bytes).expect("random");
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        getrandom::fill(&mut auth).expect("random");
        Self {
            name: name.to_owned(),
            secret,
            auth,
        }
    }

    /// `p256dh` as a browser gives it.
    pub fn p256dh(&self) -> String {
        b64(self.secret.public_key().to_sec1_point(false).as_bytes())
    }

    /// `auth` as a browser gives it.
    pub fn auth(&self) -> String {
        b64(&self.auth)
    }

    /// Decrypts an `aes128gcm` body (RFC 8291, the user agent's side).
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        assert!(body.len() > 21, "a body with a header");
        let salt = &body[..16];
        let idlen = body[20] as usize;
        assert_eq!(idlen, 65, "the key id is the sender's public key");
        let as_public = &body[21..21 + idlen];
        let sealed = &body[21 + idlen..];
        let sender = PublicKey::from_sec1_bytes(as_public).expect("the sender's key");
        let shared = self.secret.diffie_hellman(&sender);
        let ua_public = self.secret.public_key().to_sec1_point(false);
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(ua_public.as_bytes());
        info.extend_from_slice(as_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .expect("ikm");
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .expect("cek");
        let mut nonce = [0u8; 12];
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("nonce");
        let mut plain = Aes128Gcm::new_from_slice(&cek)
            .expect("key")
            .decrypt(&Nonce::from(nonce), sealed)
            .expect("the body decrypts with the subscription's keys");
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        plain
    }
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(text).expect("base64url")
}

/// A device and where its pushes go.
type Subscribed = (Arc<Device>, mpsc::UnboundedSender<Received>);

/// A scripted answer: status and `Retry-After`.
pub type Answer = (u16, Option<&'static str>);

struct Shared {
    origin: String,
    /// The server's VAPID key (base64url), once the test knows it.
    key: Mutex<Option<String>>,
    devices: Mutex<HashMap<String, Subscribed>>,
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
}

/// The running service.
pub struct PushService {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

/// A device's inbox at the service.
pub struct Inbox {
    pub device: Arc<Device>,
    pub endpoint: String,
    pushes: mpsc::UnboundedReceiver<Received>,
}

impl Inbox {
    /// The next push, decrypted (fails the test after [`PATIENCE`]).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(PATIENCE, self.pushes.recv())
            .await
            .unwrap_or_else(|_| panic!("no push reached {}", self.device.name))
            .expect("the service runs")
    }

    /// Whether a push is waiting now.
    pub fn is_empty(&mut self) -> bool {
        self.pushes.try_recv().is_err()
    }
}

impl PushService {
    /// Starts on 127.0.0.1, port 0.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            key: Mutex::new(None),
            devices: Mutex::new(HashMap::new()),
            script: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .route("/push/{name}", axum::routing::post(receive))
            .with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("push service");
        });
        Self { addr, shared }
    }

    /// The `--push-hosts` entry for this service.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The server's VAPID public key, which every push must be signed with.
    pub fn expect_key(&self, key: &str) {
        *self.shared.key.lock().expect("lock") = Some(key.to_owned());
    }

    /// A new device subscribed at `/push/<name>`.
    pub fn device(&self, name: &str) -> Inbox {
        let device = Arc::new(Device::new(name));
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared
            .devices
            .lock()
            .expect("lock")
            .insert(name.to_owned(), (device.clone(), tx));
        Inbox {
            device,
            endpoint: format!("http://{}/push/{name}", self.addr),
            pushes: rx,
        }
    }

    /// The next answers to `name`'s pushes, in order (then 201 again).
    pub fn script(&self, name: &str, answers: &[Answer]) {
        self.shared
            .script
            .lock()
            .expect("lock")
            .insert(name.to_owned(), answers.iter().copied().collect());
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert!(header("ttl").parse::<u64>().is_ok(), "a TTL");
    check_vapid(&shared, &header("authorization"));
    let Some((device, inbox)) = shared.devices.lock().expect("lock").get(&name).cloned() else {
        return (StatusCode::GONE, HeaderMap::new());
    };
    let plain = device.decrypt(&body);
    let json: Value = serde_json::from_slice(&plain).expect("the payload is JSON");
    let _ = inbox.send(Received {
        json,
        urgency: header("urgency"),
        at,
    });
    let answer = shared
        .script
        .lock()
        .expect("lock")
        .get_mut(&name)
        .and_then(VecDeque::pop_front)
        .unwrap_or((201, None));
    let mut reply = HeaderMap::new();
    if let Some(after) = answer.1 {
        reply.insert("retry-after", after.parse().expect("value"));
    }
    (StatusCode::from_u16(answer.0).expect("status"), reply)
}

/// `Authorization: vapid t=<JWT>, k=<key>`: the key is the server's, the JWT verifies with it and says
/// what RFC 8292 asks.
fn check_vapid(shared: &Shared, authorization: &str) {
    let (t, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("a VAPID authorization: {authorization:?}"));
    if let Some(key) = shared.key.lock().expect("lock").as_deref() {
        assert_eq!(k, key, "signed with the key /api/push/key gives");
    }
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT");
    let header: Value = serde_json::from_slice(&unb64(parts[0])).expect("header");
    assert_eq!(header["alg"], "ES256");
    let key = VerifyingKey::from_sec1_bytes(&unb64(k)).expect("a P-256 key");
    let signature = Signature::from_slice(&unb64(parts[2])).expect("an ES256 signature");
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT's signature verifies");
    let claims: Value = serde_json::from_slice(&unb64(parts[1])).expect("claims");
    assert_eq!(
        claims["aud"],
        shared.origin.as_str(),
        "aud is the endpoint's origin"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp > now && exp <= now + 12 * 3600, "exp within 12 hours");
    let sub = claims["sub"].as_str().expect("sub");
    assert!(
        sub.starts_with("mailto:") || sub.starts_with("https:"),
        "{sub}"
    );
}
