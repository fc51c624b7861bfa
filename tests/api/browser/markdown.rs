//! The room page's Markdown (static/markdown.js) in Chromium against the usual XSS list: payloads sent as
//! messages over a WebSocket (and one typed in the page) are shown, live and again from history after a
//! reload, as text and harmless elements only. Nothing they carry runs (each payload would set
//! `window.__pwned`), no link has a scheme other than http(s), no element has an `on*` attribute, quotes
//! stop nesting at five, and at 390 px the page does not scroll sideways, also with a payload's thread open
//! and a payload replied in it. The stored text stays raw.

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{
    Chromedriver, ENTER, SCENARIO_LIMIT, browser_installed, close_all, emulate, rethrow,
    type_message, wait_open, wait_until,
};
use crate::helpers::{TempDir, connect, spawn_app_with, test_config};

/// The room the payloads go to.
const ROOM: &str = "xss";

/// Typed in the page itself (one line: Enter sends), so the page's own pending line meets it too.
const TYPED: &str =
    "**typed** [x](javascript:window.__pwned=40) <img src=x onerror=\"window.__pwned=41\">";

/// Every payload sets `window.__pwned` if anything in it ever runs.
fn payloads() -> Vec<String> {
    let mut list: Vec<String> = [
        "<script>window.__pwned=1</script>",
        "<img src=x onerror=\"window.__pwned=2\">",
        "<svg onload=\"window.__pwned=3\"></svg>",
        "[x](javascript:window.__pwned=4)",
        "[x](JaVaScRiPt:window.__pwned=5)",
        "[x](javascript:alert(1))",
        "[x](data:text/html,<script>window.__pwned=6</script>)",
        "[x](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD03PC9zY3JpcHQ+)",
        "[x](vbscript:msgbox(1))",
        "[x]( javascript:window.__pwned=8)",
        "javascript:window.__pwned=9",
        "<a href=\"javascript:window.__pwned=10\">click</a>",
        "[a](http://x\" onmouseover=\"window.__pwned=11)",
        "[a](http://x' onmouseover='window.__pwned=12)",
        "https://example.com/\"><img src=x onerror=window.__pwned=13>",
        "`<img src=x onerror=window.__pwned=14>`",
        "```\n<script>window.__pwned=15</script>\n<img src=x onerror=window.__pwned=16>\n```",
        "**<img src=x onerror=window.__pwned=17>** _<svg onload=window.__pwned=18>_",
        "[<img src=x onerror=window.__pwned=19>](https://example.com/)",
        "`[x](javascript:window.__pwned=20)` and ``**`<b onmouseover=window.__pwned=21>`**``",
        "@<img src=x onerror=window.__pwned=22>",
        "<iframe src=\"javascript:window.__pwned=23\"></iframe>",
        "> <details open ontoggle=\"window.__pwned=24\">\n> > <style>body{display:none}</style>",
        "</textarea></div></li></ol><script>window.__pwned=25</script>",
        "{{ 7*7 }} ${window.__pwned=26} <!-- -->",
        "**bold** *italic* _also_ `code` [a link](https://example.com/ok) @ada\nsecond line\n> quoted",
    ]
    .map(String::from)
    .to_vec();
    list.push("x".repeat(5000));
    list.push(format!("https://example.com/{}", "a".repeat(3000)));
    list.push(format!("{} deep", ">".repeat(200)));
    list.push(format!("{}deeper", "> ".repeat(200)));
    list
}

/// What the page shows, as the checks need it.
const INSPECT: &str = r#"
    const log = document.getElementById('messages');
    const allowed = new Set(['LI', 'DIV', 'SPAN', 'TIME', 'BUTTON', 'P', 'BR', 'STRONG', 'EM', 'CODE', 'PRE',
                             'A', 'BLOCKQUOTE']);
    const shown = [...log.querySelectorAll('*'), ...document.querySelectorAll('#thread-panel ol *')];
    const strayTags = [...new Set(shown.map((e) => e.tagName).filter((t) => !allowed.has(t)))];
    const onAttributes = [...document.querySelectorAll('*')].flatMap((e) =>
        [...e.attributes].filter((a) => a.name.toLowerCase().startsWith('on'))
            .map((a) => e.tagName + '[' + a.name + ']'));
    const badLinks = [...document.querySelectorAll('a')].filter((a) => a.hasAttribute('href') &&
        !/^(https?:\/\/|\/)/i.test(a.getAttribute('href'))).map((a) => a.outerHTML.slice(0, 120));
    const messageLinks = [...log.querySelectorAll('a'), ...document.querySelectorAll('#thread-panel ol a')];
    const unsafeLinks = messageLinks.filter((a) => !/^https?:\/\//.test(a.getAttribute('href')) ||
        a.rel !== 'noopener noreferrer nofollow' || a.target !== '_blank').map((a) => a.outerHTML.slice(0, 120));
    let deepest = 0;
    for (const q of log.querySelectorAll('blockquote')) {
        let depth = 0;
        for (let e = q; e && e !== log; e = e.parentElement) if (e.tagName === 'BLOCKQUOTE') depth += 1;
        deepest = Math.max(deepest, depth);
    }
    const root = document.documentElement;
    const scroller = document.getElementById('chat-log');
    const formatted = [...log.querySelectorAll('li.msg')].find((li) => li.querySelector('strong')?.textContent === 'bold');
    return {
        pwned: window.__pwned === undefined ? null : String(window.__pwned),
        strayTags, onAttributes, badLinks, unsafeLinks, deepest,
        links: messageLinks.length,
        pageOverflow: root.scrollWidth - root.clientWidth,
        logOverflow: scroller.scrollWidth - scroller.clientWidth,
        width: root.clientWidth,
        formatted: formatted ? {
            em: formatted.querySelectorAll('em').length, code: formatted.querySelectorAll('code').length,
            link: formatted.querySelector('a')?.href ?? null, quote: formatted.querySelectorAll('blockquote').length,
            mention: formatted.querySelector('.mention')?.textContent ?? null,
            breaks: formatted.querySelectorAll('br').length,
        } : null,
    };
"#;

/// Opens the thread of the message reading `text` with its Reply button (the message focused first, as a
/// tap would, which shows its actions).
async fn script_click_reply(page: &Client, text: &str) {
    let id = page
        .execute(
            "const li = Array.from(document.querySelectorAll('#messages li.msg[data-id]'))
               .find((li) => li.querySelector('.text').textContent === arguments[0]);
             li.focus(); return li.dataset.id;",
            vec![serde_json::json!(text)],
        )
        .await
        .expect("find the message");
    let id = id.as_str().expect("an id").to_owned();
    page.find(Locator::Css(&format!(
        "#messages li.msg[data-id=\"{id}\"] .reply-button"
    )))
    .await
    .expect("its Reply button")
    .click()
    .await
    .expect("open the thread");
}

/// Waits until the page shows `n` stored messages, lets any image error handler the page might have
/// made run (a broken image of our own fails after them), and inspects it.
async fn inspect(page: &Client, n: usize) -> Value {
    wait_until(
        page,
        &format!("return document.querySelectorAll('#messages li.msg[data-id]').length === {n}"),
        &format!("{n} messages shown"),
    )
    .await;
    page.execute_async(
        "const done = arguments[0]; const img = new Image(); img.onerror = () => done(true); img.src = '/no-such-image.png';",
        vec![],
    )
    .await
    .expect("a broken image of our own fails");
    page.execute(INSPECT, vec![])
        .await
        .expect("inspect the page")
}

fn check(seen: &Value, when: &str) {
    assert_eq!(seen["pwned"], Value::Null, "{when}: a payload ran: {seen}");
    for list in ["strayTags", "onAttributes", "badLinks", "unsafeLinks"] {
        assert_eq!(seen[list], serde_json::json!([]), "{when}: {list}: {seen}");
    }
    assert_eq!(
        seen["deepest"], 5,
        "{when}: quotes nest five deep at most: {seen}"
    );
    assert_eq!(
        seen["width"], 390,
        "{when}: the viewport is a phone's: {seen}"
    );
    assert_eq!(
        seen["pageOverflow"], 0,
        "{when}: the page scrolls sideways: {seen}"
    );
    assert_eq!(
        seen["logOverflow"], 0,
        "{when}: the log scrolls sideways: {seen}"
    );
    // The harmless Markdown is rendered, so the checks above looked at real output.
    assert_eq!(
        seen["formatted"],
        serde_json::json!({"em": 2, "code": 1, "link": "https://example.com/ok", "quote": 1,
                           "mention": "@ada", "breaks": 1}),
        "{when}: {seen}"
    );
    // https://example.com/ok, the link on an image's text, the long URL and the URLs before a quote.
    assert!(seen["links"].as_u64() >= Some(4), "{when}: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xss_payloads_in_messages_show_as_text_run_nothing_and_keep_a_390_px_page_from_scrolling_sideways()
 {
    if !browser_installed() {
        return;
    }
    let dir = TempDir::new();
    // Room for the 5000-character line (the default limit is 4096 bytes).
    let config = chatweb::config::Config {
        max_message_bytes: 8192,
        ..test_config(dir.sqlite_url())
    };
    let app = spawn_app_with(config).await;
    let addr = app.addr;
    let driver = Chromedriver::start(&dir).await;
    let browsers = driver.open_browsers(&dir, 1).await;
    let page = browsers[0].clone();
    let task = tokio::spawn(async move {
        let payloads = payloads();
        page.goto(&format!("http://{addr}/chat/{ROOM}/"))
            .await
            .expect("open the room page");
        wait_open(&page).await;
        emulate(&page, 390, 844, "light").await;

        // Live: sent by a plain client while the page is open, then one typed in the page.
        let mut sender = connect(addr, &format!("/ws/chat/{ROOM}/")).await;
        for text in &payloads {
            sender.say(text).await;
        }
        let stored = sender.messages(payloads.len()).await;
        let texts: Vec<&str> = stored
            .iter()
            .filter_map(|m| m["message"].as_str())
            .collect();
        assert_eq!(texts, payloads, "the socket gives every text back as sent");
        type_message(&page, TYPED).await;
        check(&inspect(&page, payloads.len() + 1).await, "live");

        // From history: the server's page and the client's rendering of it.
        page.refresh().await.expect("reload");
        wait_open(&page).await;
        check(&inspect(&page, payloads.len() + 1).await, "after a reload");

        // In a thread: a payload's thread opens (a bottom sheet at 390 px) and a payload goes in as a reply.
        script_click_reply(&page, &payloads[1]).await;
        page.find(Locator::Id("thread-input"))
            .await
            .expect("thread composer")
            .send_keys(&format!("{TYPED}{ENTER}"))
            .await
            .expect("reply");
        wait_until(
            &page,
            "return document.querySelectorAll('#thread-panel .thread-replies li.msg').length === 1",
            "the reply shows in the thread",
        )
        .await;
        let seen = inspect(&page, payloads.len() + 2).await;
        check(&seen, "with the thread open");

        // Stored raw: the API gives exactly what was typed.
        let body = reqwest::get(format!("http://{addr}/api/rooms/{ROOM}/messages?limit=200"))
            .await
            .expect("history request")
            .text()
            .await
            .expect("history answer");
        let body: Value = serde_json::from_str(&body).expect("history JSON");
        let api: Vec<&str> = body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["message"].as_str())
            .collect();
        let mut want: Vec<&str> = payloads.iter().map(String::as_str).collect();
        want.extend([TYPED, TYPED]);
        assert_eq!(api, want, "the stored text is the author's");
        app.stop().await;
    });
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SCENARIO_LIMIT, task).await;
    abort.abort();
    close_all(browsers).await;
    drop(driver);
    rethrow(outcome);
}
