//! The room page's "Outgoing webhooks" section in Chromium: the room's owner registers a hook to a
//! receiver of the test's own on loopback (listed with `--webhook-hosts`), ticking events from the list
//! the server rendered (`chatweb::hooks::events::ALL`), sees the signing secret once (and it signs what
//! the receiver gets), sees the hook listed with its last delivery, and removes it after a confirmation
//! (a cancelled one keeps it). A moderator who is no owner gets the members panel without the section,
//! and the API refuses them. axe-core finds no serious or critical problem with the section filled.

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::axe::{VIEWS, axe};
use super::{enter, script, sign_up};
use crate::chromium::{axe_source, emulate, type_message, wait_until, with_browsers_configured};
use crate::hooks::{Receiver, verifies};

/// Calls the API from `page` as its scripts do (session cookie, `X-CSRFToken`): `{status, body}`.
async fn page_api(page: &Client, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let call = format!(
        "const csrf = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('csrftoken='));
         const body = {body};
         return fetch({path:?}, {{ method: {method:?}, credentials: 'same-origin',
             headers: {{ 'X-CSRFToken': csrf ? decodeURIComponent(csrf.slice(10)) : '', 'Content-Type': 'application/json' }},
             body: body === null ? undefined : JSON.stringify(body) }})
           .then(async (r) => ({{ status: r.status, body: r.status === 204 ? null : await r.json().catch(() => null) }}));",
        body = body.unwrap_or(Value::Null),
    );
    let answer = script(page, &call).await;
    let status = answer["status"].as_u64().expect("a status");
    (
        u16::try_from(status).expect("an HTTP status"),
        answer["body"].clone(),
    )
}

/// Opens the members panel and waits until the outgoing section has loaded its list.
async fn open_section(page: &Client) {
    page.find(Locator::Id("members-summary"))
        .await
        .expect("the members panel")
        .click()
        .await
        .expect("open the panel");
    wait_until(
        page,
        "return document.getElementById('outgoing-hooks-section')?.dataset.loaded === 'true'",
        "the outgoing hooks are listed",
    )
    .await;
}

/// The section's list: each hook's URL, events and delivery sentence.
async fn listed(page: &Client) -> Value {
    script(
        page,
        "return Array.from(document.querySelectorAll('#outgoing-hook-list li'), (li) => ({
           url: li.querySelector('.hook-url').textContent,
           events: li.querySelector('.hook-events').textContent,
           state: li.querySelector('.hook-state').textContent }));",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_adds_an_outgoing_hook_on_the_room_page_sees_its_secret_once_and_removes_it() {
    let receiver = Receiver::start(0).await;
    let hosts = receiver.addr.to_string();
    with_browsers_configured(
        2,
        |config| {
            config.webhooks.webhook_hosts = hosts;
            config.webhooks.webhook_poll_ms = 20;
        },
        |browsers, node| async move {
            let origin = node.origin;
            let [ada, bob]: [Client; 2] = browsers.try_into().expect("two browsers");
            sign_up(&ada, &origin, "ada").await;
            sign_up(&bob, &origin, "bob").await;
            let (status, body) = page_api(
                &ada,
                "POST",
                "/api/rooms/",
                Some(json!({"name": "ci", "kind": "public"})),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            let (status, body) = page_api(
                &ada,
                "POST",
                "/api/rooms/ci/members",
                Some(json!({"user": "bob", "role": "moderator"})),
            )
            .await;
            assert_eq!(status, 201, "{body}");

            enter(&ada, &origin, "ci").await;
            open_section(&ada).await;
            assert_eq!(listed(&ada).await, json!([]));
            // The boxes are the server's list of events, the first ticked.
            let boxes = script(
                &ada,
                "return Array.from(document.querySelectorAll('#outgoing-hook-form input[name=events]'),
                   (b) => [b.value, b.checked, b.labels[0].textContent.trim()]);",
            )
            .await;
            let all: Vec<Value> = chatweb::hooks::events::ALL
                .iter()
                .enumerate()
                .map(|(i, e)| json!([e.as_str(), i == 0, e.as_str()]))
                .collect();
            assert_eq!(boxes, Value::Array(all));

            ada.find(Locator::Id("outgoing-hook-url"))
                .await
                .expect("the URL box")
                .send_keys(&receiver.url())
                .await
                .expect("type the URL");
            ada.find(Locator::Css(
                "#outgoing-hook-form input[name=events][value=member_added]",
            ))
            .await
            .expect("member_added")
            .click()
            .await
            .expect("tick member_added");
            ada.find(Locator::Id("outgoing-hook-submit"))
                .await
                .expect("the add button")
                .click()
                .await
                .expect("add");
            let secret = wait_until(
                &ada,
                "return !document.getElementById('outgoing-hook-created').hidden
                   && document.getElementById('outgoing-hook-secret').value",
                "the secret shows",
            )
            .await;
            let secret = secret.as_str().expect("a secret").to_owned();
            assert!(secret.starts_with("whsec_"), "{secret}");
            wait_until(
                &ada,
                "return document.querySelectorAll('#outgoing-hook-list li').length === 1",
                "the hook is listed",
            )
            .await;
            let hooks = listed(&ada).await;
            assert_eq!(hooks[0]["url"], receiver.url());
            assert_eq!(hooks[0]["events"], "message_created, member_added");
            assert_eq!(hooks[0]["state"], "No delivery yet.");
            assert_eq!(
                script(&ada, "return document.getElementById('outgoing-hook-url').value").await,
                "",
                "the form is cleared"
            );

            // A message reaches the receiver, signed with the secret the page showed.
            type_message(&ada, "ship it").await;
            receiver
                .until("the message", |events| {
                    events.iter().any(|e| e["message"] == "ship it")
                })
                .await;
            let request = receiver.requests().pop().expect("a request");
            assert!(verifies(&secret, &request.signature, &request.body));

            // Once the delivery is recorded, the reloaded page says so, and the secret is gone for good.
            let (_, hooks) = page_api(&ada, "GET", "/api/rooms/ci/hooks/outgoing", None).await;
            let id = hooks[0]["id"].clone();
            let deliveries = format!("/api/hooks/outgoing/{id}/deliveries");
            let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
            while page_api(&ada, "GET", &deliveries, None).await.1 == json!([]) {
                assert!(tokio::time::Instant::now() < deadline, "no delivery recorded");
                tokio::time::sleep(crate::chromium::DOM_POLL).await;
            }
            ada.refresh().await.expect("reload");
            open_section(&ada).await;
            let state = listed(&ada).await[0]["state"].clone();
            assert!(
                state
                    .as_str()
                    .is_some_and(|s| s.starts_with("Last delivery: delivered (HTTP 200)")),
                "{state}"
            );
            let shown = script(
                &ada,
                "return [document.getElementById('outgoing-hook-created').hidden,
                         document.documentElement.outerHTML.includes('whsec_')]",
            )
            .await;
            assert_eq!(shown, json!([true, false]), "the secret is not shown again");

            let axe_js = axe_source();
            let mut problems = Vec::new();
            for (width, height, scheme) in VIEWS {
                emulate(&ada, width, height, scheme).await;
                for v in axe(&ada, axe_js.as_deref()).await {
                    problems.push(format!("outgoing hooks {width} {scheme}: {v}"));
                }
            }
            assert!(
                problems.is_empty(),
                "axe-core found serious or critical problems:\n{}",
                problems.join("\n")
            );

            // A moderator who is no owner: the panel, not the section; the API refuses them.
            enter(&bob, &origin, "ci").await;
            let seen = script(
                &bob,
                "return [Boolean(document.getElementById('members-panel')),
                         Boolean(document.getElementById('outgoing-hooks-section'))]",
            )
            .await;
            assert_eq!(seen, json!([true, false]));
            let (status, _) = page_api(&bob, "GET", "/api/rooms/ci/hooks/outgoing", None).await;
            assert_eq!(status, 403);
            let new = json!({"url": receiver.url(), "events": ["message_created"]});
            let (status, _) =
                page_api(&bob, "POST", "/api/rooms/ci/hooks/outgoing", Some(new)).await;
            assert_eq!(status, 403);
            let (status, _) =
                page_api(&bob, "DELETE", &format!("/api/hooks/outgoing/{id}"), None).await;
            assert_eq!(status, 404);

            // Remove asks first: cancelled, the hook stays; confirmed, it goes.
            for (button, what) in [
                (".hook-remove", "Remove"),
                ("button.quiet", "Cancel"),
                (".hook-remove", "Remove again"),
                (".hook-confirm", "Yes, remove"),
            ] {
                ada.find(Locator::Css(&format!("#outgoing-hook-list {button}")))
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
                    .click()
                    .await
                    .unwrap_or_else(|e| panic!("click {what}: {e}"));
                if what == "Cancel" {
                    assert_eq!(listed(&ada).await.as_array().map(Vec::len), Some(1));
                }
            }
            wait_until(
                &ada,
                "return document.getElementById('outgoing-hook-list').children.length === 0",
                "the hook is gone from the list",
            )
            .await;
            let (status, hooks) =
                page_api(&ada, "GET", "/api/rooms/ci/hooks/outgoing", None).await;
            assert_eq!((status, hooks), (200, json!([])));
        },
    )
    .await;
}
