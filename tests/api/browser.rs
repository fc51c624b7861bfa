//! The room page in a real browser: headless chromium driven over WebDriver (fantoccini) by a chromedriver
//! this test starts on a free port and kills by its own handle. Without chromium the test is skipped, except
//! on CI (`CI=true`), where it fails.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::time::Instant;

use crate::helpers::{PATIENCE, TempDir, spawn_app};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The WebDriver key code of Enter.
const ENTER: &str = "\u{E007}";
/// Poll interval for a condition in a page's DOM (never used to wait for the server).
const DOM_POLL: Duration = Duration::from_millis(50);
/// Upper bound for one browser start (chromium launch and session creation).
const BROWSER_START_LIMIT: Duration = Duration::from_secs(30);
/// Upper bound for a whole scenario, so a wedged driver fails the test instead of hanging it.
const SCENARIO_LIMIT: Duration = Duration::from_secs(90);

const FIRST: &str = "hello from page one";
const OTHER: &str = "hello from other";
const SCRIPT: &str = "<script>window.__pwned=1</script>";
const BREAKOUT: &str = "</textarea><img src=x onerror=\"window.__pwned=2\">";

/// Whether chromium and chromedriver are installed. When one is missing this prints a skip notice, or
/// panics if `CI=true` (a CI run must not pass by skipping its browser test).
fn browser_installed() -> bool {
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
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts chromedriver on a free loopback port and waits (bounded) until it accepts connections.
    async fn start(dir: &TempDir) -> Self {
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
    async fn open_browser(&self, user_data_dir: &Path) -> Result<Client, String> {
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
    async fn open_browsers(&self, dir: &TempDir, n: usize) -> Vec<Client> {
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
async fn close_all(browsers: Vec<Client>) {
    for browser in browsers {
        let _ = tokio::time::timeout(PATIENCE, browser.close()).await;
    }
}

/// Waits until the page's socket is open (chat.js sets `data-state="open"` on `#room`).
async fn wait_open(page: &Client) {
    page.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#room[data-state=open]"))
        .await
        .expect("the room page connects its socket in time");
}

/// Types `text` into the page's message box and presses Enter.
async fn type_message(page: &Client, text: &str) {
    page.find(Locator::Id("chat-message-input"))
        .await
        .expect("message input")
        .send_keys(&format!("{text}{ENTER}"))
        .await
        .expect("type a message");
}

/// The current value of the page's `#chat-log` textarea.
async fn log_of(page: &Client) -> String {
    page.find(Locator::Id("chat-log"))
        .await
        .expect("chat log")
        .prop("value")
        .await
        .expect("chat log value")
        .unwrap_or_default()
}

/// Polls the page's log until it contains `needle` (bounded by `PATIENCE`); returns the log.
async fn wait_for_log(page: &Client, needle: &str) -> String {
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
async fn not_pwned(page: &Client) -> bool {
    page.execute("return window.__pwned === undefined", vec![])
        .await
        .expect("execute script")
        .as_bool()
        .expect("a boolean")
}

fn line(text: &str) -> String {
    format!("anonymous: {text}\n")
}

/// Runs `scenario` on `n` fresh browsers and the origin (`http://addr`) of a fresh node, then closes the browsers, stops the node
/// and kills chromedriver whatever the outcome; a panic in the scenario is re-raised afterwards.
async fn with_browsers<F, Fut>(n: usize, scenario: F)
where
    F: FnOnce(Vec<Client>, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !browser_installed() {
        return;
    }
    let started = std::time::Instant::now();
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let driver = Chromedriver::start(&dir).await;
    let browsers = driver.open_browsers(&dir, n).await;
    let task = tokio::spawn(scenario(browsers.clone(), app.origin()));
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

/// Re-raises a scenario's panic, or fails if it timed out, once everything is cleaned up.
fn rethrow(outcome: Result<Result<(), tokio::task::JoinError>, tokio::time::error::Elapsed>) {
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Ok(Err(error)) => panic!("browser scenario task failed: {error}"),
        Err(_) => panic!("browser scenario did not finish within {SCENARIO_LIMIT:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_page_shows_a_message_sent_from_another_page_in_the_same_room_and_not_in_another_room()
 {
    with_browsers(3, |browsers, origin| async move {
        let [one, two, three]: [Client; 3] = browsers.try_into().expect("three browsers");
        one.goto(&format!("{origin}/chat/lobby/"))
            .await
            .expect("open lobby page one");
        two.goto(&format!("{origin}/chat/lobby/"))
            .await
            .expect("open lobby page two");
        three
            .goto(&format!("{origin}/chat/other/"))
            .await
            .expect("open other page");
        for page in [&one, &two, &three] {
            wait_open(page).await;
        }

        // Same room: page 2 sees page 1's message, and page 1 gets its own message back.
        type_message(&one, FIRST).await;
        wait_for_log(&two, &line(FIRST)).await;
        wait_for_log(&one, &line(FIRST)).await;

        // Other room: page 1's message was published before page 3's own, so had it been routed to page 3
        // it would already be in page 3's log.
        type_message(&three, OTHER).await;
        let other_log = wait_for_log(&three, &line(OTHER)).await;
        assert!(
            !other_log.contains(FIRST),
            "a lobby message reached the other room:\n{other_log}"
        );

        // Markup in a message is text: shown literally, never run.
        type_message(&one, SCRIPT).await;
        let lobby_log = wait_for_log(&two, &line(SCRIPT)).await;
        assert!(
            !lobby_log.contains(OTHER),
            "a message of the other room reached the lobby:\n{lobby_log}"
        );
        assert_eq!(
            lobby_log.matches(FIRST).count(),
            1,
            "the first message is shown once:\n{lobby_log}"
        );
        assert!(
            not_pwned(&two).await,
            "a script in a message ran on page two"
        );
        assert!(
            not_pwned(&one).await,
            "a script in a message ran on page one"
        );

        // The same in the server-rendered history: a reload shows every line once, literally.
        type_message(&one, BREAKOUT).await;
        wait_for_log(&two, &line(BREAKOUT)).await;
        two.refresh().await.expect("reload page two");
        wait_open(&two).await;
        assert_eq!(
            log_of(&two).await,
            [FIRST, SCRIPT, BREAKOUT].map(line).concat(),
            "the reloaded page shows the history once, as text"
        );
        assert!(
            not_pwned(&two).await,
            "markup in the history ran on the reloaded page"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_page_keeps_working_across_a_server_restart_and_shows_what_was_sent_meanwhile() {
    if !browser_installed() {
        return;
    }
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let addr = app.addr;
    let driver = Chromedriver::start(&dir).await;
    let browsers = driver.open_browsers(&dir, 1).await;
    let page = browsers[0].clone();
    let database_url = dir.sqlite_url();
    let task = tokio::spawn(async move {
        page.goto(&format!("http://{addr}/chat/restart/"))
            .await
            .expect("open the room page");
        wait_open(&page).await;
        type_message(&page, "before the restart").await;
        wait_for_log(&page, &line("before the restart")).await;

        // The server stops: the page notices and shows it is offline.
        app.stop().await;
        page.wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#room[data-state=offline]"))
            .await
            .expect("the page shows it is offline");
        // Typed while offline: kept and sent once the page is back.
        type_message(&page, "typed while offline").await;

        // The same node comes back on the same port and database; someone speaks before the page returns.
        let config = chatweb::config::Config {
            port: addr.port(),
            ..crate::helpers::test_config(database_url)
        };
        let app = crate::helpers::spawn_app_with(config).await;
        let mut other = app.join("restart").await;
        other.say("sent meanwhile").await;

        let log = wait_for_log(&page, &line("typed while offline")).await;
        let log = if log.contains("sent meanwhile") {
            log
        } else {
            wait_for_log(&page, &line("sent meanwhile")).await
        };
        wait_open(&page).await;
        for text in [
            "before the restart",
            "typed while offline",
            "sent meanwhile",
        ] {
            assert_eq!(log.matches(text).count(), 1, "{text:?} once in:\n{log}");
        }
        assert!(log.starts_with(&line("before the restart")), "{log}");
        // Stored once: the other client sees exactly three messages, ids 1 to 3.
        let mut back = app.join_path("/ws/chat/restart/?since=0", None).await;
        let ids: Vec<_> = back
            .messages(3)
            .await
            .iter()
            .map(|f| f["id"].as_u64())
            .collect();
        assert_eq!(ids, [Some(1), Some(2), Some(3)]);
        back.say("after").await;
        assert_eq!(
            back.next_message().await["id"],
            4,
            "nothing else was stored"
        );
        app.stop().await;
    });
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SCENARIO_LIMIT, task).await;
    abort.abort();
    close_all(browsers).await;
    drop(driver);
    rethrow(outcome);
}
