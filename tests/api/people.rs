//! Test helpers for accounts: a browser-like HTTP session that keeps its cookies (session, CSRF) and
//! submits forms with the CSRF token the way a page does, and WebSocket handshakes that carry a session
//! cookie, a bearer token or the `chatweb.v2` subprotocol.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::Client;

/// A password every test user gets unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery";

/// One browser: its cookies persist between requests, redirects are not followed (tests look at them).
pub struct Browser {
    addr: SocketAddr,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// A response as a test reads it.
pub struct Page {
    /// The status code.
    pub status: u16,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

impl Browser {
    /// A new browser (no cookies) pointed at the node at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            addr,
            http,
            cookies: BTreeMap::new(),
        }
    }

    /// The same cookies, pointed at another node (a load balancer sending the next request elsewhere).
    pub fn on(&self, addr: SocketAddr) -> Self {
        let mut other = Self::new(addr);
        other.cookies = self.cookies.clone();
        other
    }

    /// The value of cookie `name`, if the browser holds it.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// Sets (or with `None` removes) a cookie by hand.
    pub fn set_cookie(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.cookies.insert(name.into(), value.into()),
            None => self.cookies.remove(name),
        };
    }

    /// The `Cookie` header this browser sends.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all("set-cookie") {
            let Ok(set) = set.to_str() else { continue };
            let pair = set.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let expired = set.to_ascii_lowercase().contains("max-age=0");
            if expired || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().into(), value.trim().into());
            }
        }
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        self.keep_cookies(&response);
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("body");
        Page {
            status,
            location,
            body,
        }
    }

    /// GETs `path`.
    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.read(response).await
    }

    /// POSTs a form to `path` exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        self.read(response).await
    }

    /// POSTs a form as a page would: the CSRF cookie (fetched from `/` first if missing) and the matching
    /// hidden field.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        if self.cookie("csrftoken").is_none() {
            self.get("/").await;
        }
        let token = self
            .cookie("csrftoken")
            .expect("csrftoken cookie")
            .to_owned();
        let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Signs up `name` with [`PASSWORD`] and stays logged in.
    pub async fn sign_up(&mut self, name: &str) -> Page {
        let page = self
            .post(
                "/accounts/signup/",
                &[
                    ("username", name),
                    ("password1", PASSWORD),
                    ("password2", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            page.status, 303,
            "sign-up of {name} redirects: {}",
            page.body
        );
        page
    }

    /// Logs in as `name` with `password`.
    pub async fn log_in(&mut self, name: &str, password: &str) -> Page {
        self.post(
            "/accounts/login/",
            &[("username", name), ("password", password)],
        )
        .await
    }

    /// Logs out.
    pub async fn log_out(&mut self) -> Page {
        self.post("/accounts/logout/", &[]).await
    }

    /// Opens the chat socket at `path` with this browser's cookies and origin.
    pub async fn join(&self, path: &str) -> Result<Client, u16> {
        socket(self.addr, path, &self.socket_headers(), false).await
    }

    /// Like [`Browser::join`], asking for the `chatweb.v2` subprotocol.
    pub async fn join_v2(&self, path: &str) -> Result<Client, u16> {
        socket(self.addr, path, &self.socket_headers(), true).await
    }

    fn socket_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("origin", format!("http://{}", self.addr)),
            ("cookie", self.cookie_header()),
        ]
    }
}

/// Opens a chat socket with the given headers (and the `chatweb.v2` subprotocol when `v2`); the error is
/// a refusal's HTTP status.
pub async fn socket(
    addr: SocketAddr,
    path: &str,
    headers: &[(&'static str, String)],
    v2: bool,
) -> Result<Client, u16> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    if v2 {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("chatweb.v2"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            if v2 {
                assert_eq!(
                    response
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok()),
                    Some("chatweb.v2"),
                    "the server echoes the subprotocol"
                );
            }
            Ok(Client::from_stream(ws))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// Opens a chat socket as a bot: `Authorization: Bearer <token>` and no `Origin`.
pub async fn bot_join(addr: SocketAddr, path: &str, token: &str) -> Result<Client, u16> {
    socket(
        addr,
        path,
        &[("authorization", format!("Bearer {token}"))],
        false,
    )
    .await
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A staff user created straight in the node's database (as `createsuperuser` does), then logged in.
pub async fn staff_browser(addr: SocketAddr, database_url: &str, name: &str) -> Browser {
    let backend = chatweb::storage::Store::connect(database_url)
        .await
        .expect("db");
    let accounts = chatweb::accounts::Accounts::new(
        backend.db(),
        chatweb::config::Config::default().account_settings(),
    );
    accounts
        .create_user(name, "", PASSWORD, true)
        .await
        .expect("staff user");
    let mut browser = Browser::new(addr);
    let page = browser.log_in(name, PASSWORD).await;
    assert_eq!(page.status, 303, "staff login: {}", page.body);
    browser
}
