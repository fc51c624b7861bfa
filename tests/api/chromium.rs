//! Driving the pages in a real browser: headless chromium over WebDriver (fantoccini), through a
//! chromedriver each test starts on a free port and kills by its own handle. Without chromium a browser
//! test is skipped, except on CI (`CI=true`), where it fails.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::time::Instant;

use crate::helpers::{PATIENCE, TempDir, spawn_app_with, test_config};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The WebDriver key code of Enter.
pub const ENTER: &str = "\u{E007}";
/// Poll interval for a condition in a page's DOM (never used to wait for the server).
pub const DOM_POLL: Duration = Duration::from_millis(50);
/// Upper bound for one browser start (chromium launch and session creation).
pub const BROWSER_START_LIMIT: Duration = Duration::from_secs(30);
/// Upper bound for a whole scenario, so a wedged driver fails the test instead of hanging it.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(90);

/// Whether chromium and chromedriver are installed. When one is missing this prints a skip notice, or
/// panics if `CI=true` (a CI run must not pass by skipping its browser test).
pub fn browser_installed() -> bool {
    let Some(missing) = [CHROMEDRIVER, CHROMIUM]
        .into_iter()
        .find(|path| !Path::new(path).exists())
    else {
        return true;
    };
    let name = missing.rsplit('/').next().unwrap_or(missing);
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "browser test cannot run on CI: {missing} not found (apt-get install chromium chromium-driver)"
    );
    println!("skipping browser test: {name} not found");
    false
}

/// A chromedriver process started by this test; killed through its own handle when dropped, even on panic.
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts chromedriver on a free loopback port and waits (bounded) until it accepts connections.
    pub async fn start(dir: &TempDir) -> Self {
        // The free port may be taken by someone else before chromedriver binds it: try a few.
        let log_path = dir.path().join("chromedriver.log");
        for _ in 0..3 {
            let port = {
                let listener =
                    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
                listener.local_addr().expect("local addr").port()
            };
            let log = std::fs::File::create(&log_path).expect("chromedriver log");
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .expect("start chromedriver");
            let mut driver = Self { child, port };
            if driver.wait_until_listening().await {
                return driver;
            }
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("chromedriver exited before it listened, three times; its last output:\n{log}");
    }

    /// Polls the driver's port: readiness of an external process, bounded by `PATIENCE`. False when the
    /// driver exited first (its port was taken).
    async fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        let mut interval = tokio::time::interval(Duration::from_millis(50));
        loop {
            interval.tick().await;
            if self.child.try_wait().expect("poll chromedriver").is_some() {
                return false;
            }
            if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .is_ok()
            {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {} within {PATIENCE:?}",
                self.port
            );
        }
    }

    /// Opens a new headless chromium session with its own profile in `user_data_dir`.
    pub async fn open_browser(&self, user_data_dir: &Path) -> Result<Client, String> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", user_data_dir.display()),
                ],
            }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let url = format!("http://127.0.0.1:{}", self.port);
        match tokio::time::timeout(BROWSER_START_LIMIT, builder.connect(&url)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(error)) => Err(format!("WebDriver session not created: {error}")),
            Err(_) => Err(format!(
                "no WebDriver session within {BROWSER_START_LIMIT:?}"
            )),
        }
    }

    /// Opens `n` browsers, each with a fresh profile under `dir`; on failure closes those already open.
    pub async fn open_browsers(&self, dir: &TempDir, n: usize) -> Vec<Client> {
        let mut browsers = Vec::with_capacity(n);
        for i in 0..n {
            let profile = dir.path().join(format!("chromium-profile-{i}"));
            match self.open_browser(&profile).await {
                Ok(client) => browsers.push(client),
                Err(error) => {
                    close_all(browsers).await;
                    panic!("browser {i}: {error}");
                }
            }
        }
        browsers
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ends every session (which quits its chromium), bounded so a wedged driver cannot hang the test.
pub async fn close_all(browsers: Vec<Client>) {
    for browser in browsers {
        let _ = tokio::time::timeout(PATIENCE, browser.close()).await;
    }
}

/// Waits until the page's socket is open (chat.js sets `data-state="open"` on `#room`).
/// Clicks the element `css` finds. A live update may redraw it between the find and the click (a
/// message's parts are drawn again when its reactions or replies change): then it is found again, a
/// bounded number of times.
pub async fn click_css(page: &Client, css: &str) {
    for _ in 0..10 {
        let found = page
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match found.click().await {
            Ok(_) => return,
            Err(e) if e.to_string().contains("stale element") => continue,
            Err(e) => panic!("click {css}: {e}"),
        }
    }
    panic!("{css} was redrawn ten times in a row");
}

pub async fn wait_open(page: &Client) {
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#room[data-state=open]"))
        .await
        .expect("the room page connects its socket in time");
}

/// Types `text` into the page's message box and presses Enter.
pub async fn type_message(page: &Client, text: &str) {
    page.find(Locator::Id("chat-message-input"))
        .await
        .expect("message input")
        .send_keys(&format!("{text}{ENTER}"))
        .await
        .expect("type a message");
}

/// The current value of the page's `#chat-log` textarea.
pub async fn log_of(page: &Client) -> String {
    page.find(Locator::Id("chat-log"))
        .await
        .expect("chat log")
        .prop("value")
        .await
        .expect("chat log value")
        .unwrap_or_default()
}

/// Polls the page's log until it contains `needle` (bounded by `PATIENCE`); returns the log.
pub async fn wait_for_log(page: &Client, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = log_of(page).await;
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "the log never showed {needle:?} within {PATIENCE:?}; it reads:\n{log}"
        );
        tokio::time::sleep(DOM_POLL).await;
    }
}

/// Whether no script planted by a message has run in the page.
pub async fn not_pwned(page: &Client) -> bool {
    page.execute("return window.__pwned === undefined", vec![])
        .await
        .expect("execute script")
        .as_bool()
        .expect("a boolean")
}

/// Runs `scenario` on `n` fresh browsers and the origin (`http://addr`) of a fresh node, then closes the browsers, stops the node
/// and kills chromedriver whatever the outcome; a panic in the scenario is re-raised afterwards.
pub async fn with_browsers<F, Fut>(n: usize, scenario: F)
where
    F: FnOnce(Vec<Client>, Node) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_browsers_configured(n, |_| {}, scenario).await;
}

/// [`with_browsers`] on a node whose test settings `change` alters (a flag a scenario needs).
pub async fn with_browsers_configured<F, Fut>(
    n: usize,
    change: impl FnOnce(&mut chatweb::config::Config),
    scenario: F,
) where
    F: FnOnce(Vec<Client>, Node) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !browser_installed() {
        return;
    }
    let started = std::time::Instant::now();
    let dir = TempDir::new();
    let mut config = test_config(dir.sqlite_url());
    change(&mut config);
    let app = spawn_app_with(config).await;
    let driver = Chromedriver::start(&dir).await;
    let browsers = driver.open_browsers(&dir, n).await;
    let node = Node {
        origin: app.origin(),
        addr: app.addr,
        database_url: dir.sqlite_url(),
    };
    let task = tokio::spawn(scenario(browsers.clone(), node));
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SCENARIO_LIMIT, task).await;
    abort.abort();
    close_all(browsers).await;
    app.stop().await;
    drop(driver);
    drop(dir);
    println!("browser scenario finished in {:?}", started.elapsed());
    rethrow(outcome);
}

/// The node a browser scenario runs against.
pub struct Node {
    /// `http://addr`.
    pub origin: String,
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// Its database (for creating users the way `createsuperuser` does).
    pub database_url: String,
}

/// Re-raises a scenario's panic, or fails if it timed out, once everything is cleaned up.
pub fn rethrow(outcome: Result<Result<(), tokio::task::JoinError>, tokio::time::error::Elapsed>) {
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Ok(Err(error)) => panic!("browser scenario task failed: {error}"),
        Err(_) => panic!("browser scenario did not finish within {SCENARIO_LIMIT:?}"),
    }
}

/// What the room page's message list shows, one line per message as the old textarea printed it:
/// `user (guest): text`, with ` [edited]`, ` [pending]` or ` [failed]` after it, and `[deleted]` for the
/// text of a deleted message. Read from the DOM (`li.msg` in `#chat-log`), not from the page's state.
pub async fn room_log_of(page: &Client) -> String {
    const SCRIPT: &str = r#"
        const log = document.getElementById('chat-log');
        if (!log) return '';
        return Array.from(log.querySelectorAll('li.msg')).map((li) => {
            const author = li.querySelector('.author')?.textContent ?? '';
            const guest = li.querySelector('.guest-tag') ? ' (guest)' : '';
            const text = li.classList.contains('deleted')
                ? '[deleted]' : (li.querySelector('.text')?.textContent ?? '');
            const edited = li.classList.contains('edited') ? ' [edited]' : '';
            const state = li.classList.contains('pending') ? ' [pending]'
                : li.classList.contains('failed') ? ' [failed]' : '';
            return author + guest + ': ' + text + edited + state + '\n';
        }).join('');
    "#;
    page.execute(SCRIPT, vec![])
        .await
        .expect("read the message list")
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Polls the room page's message list until it contains `needle` (bounded by `PATIENCE`); returns it.
pub async fn wait_for_room_log(page: &Client, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = room_log_of(page).await;
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "the message list never showed {needle:?} within {PATIENCE:?}; it reads:\n{log}"
        );
        tokio::time::sleep(DOM_POLL).await;
    }
}

/// Polls the room page's message list until it no longer contains `needle` (bounded); returns it.
pub async fn wait_for_room_log_without(page: &Client, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = room_log_of(page).await;
        if !log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} stayed in the message list:\n{log}"
        );
        tokio::time::sleep(DOM_POLL).await;
    }
}

/// Polls `script` (a function body returning a value) in the page until it returns something truthy
/// other than `false`/`null`/`""`/`0`, bounded by `PATIENCE`; returns that value. `what` names the wait.
pub async fn wait_until(page: &Client, script: &str, what: &str) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = page
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{what}: script failed: {e}"));
        let truthy = match &value {
            serde_json::Value::Null | serde_json::Value::Bool(false) => false,
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(DOM_POLL).await;
    }
}

/// A Chrome DevTools Protocol command sent through chromedriver (`/session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &reqwest::Url,
        session_id: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

/// Runs DevTools command `cmd` with `params` in the page's browser; its result.
pub async fn cdp(page: &Client, cmd: &'static str, params: serde_json::Value) -> serde_json::Value {
    try_cdp(page, cmd, params)
        .await
        .unwrap_or_else(|e| panic!("DevTools {cmd}: {e}"))
}

/// Runs DevTools command `cmd` with `params` in the page's browser: its result, or the error.
pub async fn try_cdp(
    page: &Client,
    cmd: &'static str,
    params: serde_json::Value,
) -> Result<serde_json::Value, fantoccini::error::CmdError> {
    page.issue_cmd(Cdp { cmd, params }).await
}

/// Makes the page's viewport `width` x `height` CSS pixels (a phone's when narrow) and its
/// `prefers-color-scheme` `dark` or `light`.
pub async fn emulate(page: &Client, width: u32, height: u32, scheme: &str) {
    cdp(
        page,
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 }),
    )
    .await;
    cdp(
        page,
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
    )
    .await;
}

/// Where `scripts/test` installs axe-core from npm.
pub const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/tools/npm/node_modules/axe-core/axe.min.js"
);

/// axe-core's script, read once per check. Without it this prints a skip notice and returns `None`, or
/// panics if `CI=true` (a CI run must not pass by skipping its accessibility check).
pub fn axe_source() -> Option<String> {
    match std::fs::read_to_string(AXE) {
        Ok(source) => Some(source),
        Err(error) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "accessibility check cannot run on CI: {AXE}: {error} (scripts/test installs it)"
            );
            println!(
                "skipping the accessibility check: {AXE}: {error} \
                 (npm install --prefix target/tools/npm axe-core@4, or run scripts/test)"
            );
            None
        }
    }
}

/// Runs axe-core (`source`, from [`axe_source`]) in the page and returns its serious and critical
/// violations, one line each (rule, impact, help, the first few offending elements).
pub async fn axe_violations(page: &Client, source: &str) -> Vec<String> {
    page.execute(source, vec![]).await.expect("inject axe-core");
    const RUN: &str = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] }).then((results) => {
            done(results.violations
                .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                    v.nodes.slice(0, 5).map((n) => n.target.join(' ') +
                        (n.failureSummary ? ' [' + n.failureSummary.replace(/\s+/g, ' ') + ']' : ''))
                        .join('; ')));
        }, (error) => done(['axe failed: ' + error]));
    "#;
    let value = page.execute_async(RUN, vec![]).await.expect("run axe-core");
    value
        .as_array()
        .expect("a list of violations")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Writes a PNG screenshot of the page's viewport to `path`.
pub async fn screenshot_to(page: &Client, path: &Path) {
    let png = page.screenshot().await.expect("screenshot");
    std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
