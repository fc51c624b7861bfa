//! Web Push in Chromium: the bell is on the room page, `/sw.js` registers for the whole site, a push
//! delivered to it through the DevTools protocol (`ServiceWorker.deliverPushMessage`, what a push service
//! would hand the browser) shows a notification with the sender, the room, the text and the message's URL
//! (`registration.getNotifications()`), and its click takes the tab on the room to the message. WebDriver
//! cannot click a notification: the worker is handed a `notificationclick` event through DevTools
//! instead (untrusted, so `waitUntil` refuses it, but the handler's work runs), which also means a click
//! opening a new window (that needs a real click) is not driven here.

use fantoccini::Client;
use serde_json::json;

use super::{enter, sign_up};
use crate::chromium::{cdp, wait_until, with_browsers};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_delivered_to_the_service_worker_shows_a_notification() {
    with_browsers(1, |browsers, node| async move {
        let origin = node.origin;
        let [ada]: [Client; 1] = browsers.try_into().expect("one browser");
        sign_up(&ada, &origin, "ada").await;
        enter(&ada, &origin, "news").await;
        let bell = wait_until(
            &ada,
            "const b = document.getElementById('push-button'); return b && !b.hidden && b.textContent",
            "the bell",
        )
        .await;
        assert!(bell.as_str().unwrap_or_default().contains("Push"), "{bell}");
        cdp(
            &ada,
            "Browser.grantPermissions",
            json!({ "origin": origin, "permissions": ["notifications"] }),
        )
        .await;
        cdp(&ada, "ServiceWorker.enable", json!({})).await;
        let scope = ada
            .execute(
                "return navigator.serviceWorker.register('/sw.js', { scope: '/' })
                   .then(() => navigator.serviceWorker.ready).then((r) => r.scope)",
                vec![],
            )
            .await
            .expect("the service worker registers");
        assert_eq!(scope, format!("{origin}/"));
        let payload = json!({
            "room": "news", "id": 7, "user": "bob", "text": "lunch at noon, @ada?",
            "url": "/chat/news/?at=7", "more": 0,
        });
        // A fresh profile's first registration has id 0 (chrome://serviceworker-internals says so). The
        // registration is stored a moment after it is active, and a push delivered before that is
        // dropped: deliver again until one shows (each replaces the last: one tag per room).
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        let shown = loop {
            cdp(
                &ada,
                "ServiceWorker.deliverPushMessage",
                json!({ "origin": origin, "registrationId": "0", "data": payload.to_string() }),
            )
            .await;
            let shown = ada
                .execute(
                    "return new Promise((done) => setTimeout(done, 300))
                       .then(() => navigator.serviceWorker.ready).then((r) => r.getNotifications())
                       .then((ns) => ns.map((n) => [n.title, n.body, n.data && n.data.url, n.tag].join('|')).join('\\n'))",
                    vec![],
                )
                .await
                .expect("notifications");
            if shown != "" {
                break shown;
            }
            assert!(tokio::time::Instant::now() < deadline, "no notification was shown");
        };
        assert_eq!(
            shown,
            "bob in news|lunch at noon, @ada?|/chat/news/?at=7|chatweb-news"
        );
        // The click: WebDriver cannot click a notification, so the service worker is handed the event
        // its click would bring (through DevTools, in the worker): the tab on the room goes to the
        // message.
        let targets = cdp(&ada, "Target.getTargets", json!({})).await;
        let worker = targets["targetInfos"]
            .as_array()
            .expect("targets")
            .iter()
            .find(|t| t["type"] == "service_worker")
            .unwrap_or_else(|| panic!("a service worker target: {targets}"))["targetId"]
            .clone();
        let attached = cdp(
            &ada,
            "Target.attachToTarget",
            json!({ "targetId": worker, "flatten": false }),
        )
        .await;
        let click = "self.registration.getNotifications().then((ns) => \
                     self.dispatchEvent(new NotificationEvent('notificationclick', { notification: ns[0] })))";
        let message = json!({ "id": 1, "method": "Runtime.evaluate", "params": { "expression": click } });
        cdp(
            &ada,
            "Target.sendMessageToTarget",
            json!({ "sessionId": attached["sessionId"], "message": message.to_string() }),
        )
        .await;
        let at = wait_until(
            &ada,
            "return location.pathname + location.search === '/chat/news/?at=7' && location.search",
            "the room opened at the message",
        )
        .await;
        assert_eq!(at, "?at=7");
    })
    .await;
}
