//! The pages: lobby, room and search return 200, invalid room names 404, and user text is always escaped.

use crate::helpers::{TempDir, spawn_app};

#[tokio::test]
async fn the_lobby_and_a_room_page_are_served() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let lobby = app.get("/", None).await;
    assert_eq!(lobby.status(), 200);
    let body = lobby.text().await.expect("body");
    assert!(body.contains("id=\"room-name-input\""));
    assert!(body.contains("id=\"nickname-input\""));

    let room = app.get("/chat/lobby/", None).await;
    assert_eq!(room.status(), 200);
    let body = room.text().await.expect("body");
    for id in ["chat-log", "chat-message-input", "chat-message-submit"] {
        assert!(body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(body.contains("role=\"log\""), "the log is announced as one");
    for asset in ["/static/chat.js", "/static/lobby.js", "/static/style.css"] {
        assert_eq!(app.get(asset, None).await.status(), 200, "{asset}");
    }
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn invalid_room_names_get_404_and_a_missing_slash_redirects() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    for room in ["a%20b", "%3Cscript%3E", "a.b%2F", &"x".repeat(65)] {
        assert_eq!(
            app.get(&format!("/chat/{room}/"), None).await.status(),
            404,
            "{room}"
        );
    }
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/chat/caf%C3%A9"))
        .send()
        .await
        .expect("request");
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/chat/caf%C3%A9/");
    app.stop().await;
}

#[tokio::test]
async fn user_text_is_escaped_on_both_pages() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let evil_name = "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E";
    let mut client = app.join_path("/ws/chat/xss/", Some(evil_name)).await;
    client
        .say("<script>alert('boom')</script> & \"quotes\"")
        .await;
    let frame = client.next_message().await;
    assert_eq!(frame["user"], "<img src=x onerror=alert(1)>");

    let cookie = format!("chatweb_nickname={evil_name}");
    let room = app
        .get("/chat/xss/", Some(&cookie))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !room.contains("<script>alert"),
        "message text must be escaped"
    );
    assert!(room.contains(
        "&lt;script&gt;alert(&#x27;boom&#x27;)&lt;&#x2f;script&gt; &amp; &quot;quotes&quot;"
    ));
    assert!(!room.contains("<img src=x"), "the nickname must be escaped");
    assert!(room.contains("&lt;img src=x onerror=alert(1)&gt;"));

    let lobby = app
        .get("/", Some(&cookie))
        .await
        .text()
        .await
        .expect("body");
    assert!(!lobby.contains("<img src=x"));
    assert!(lobby.contains("value=\"&lt;img src=x onerror=alert(1)&gt;\""));
    assert!(lobby.contains(">xss</a>"), "rooms with messages are listed");
    app.stop().await;
}

#[tokio::test]
async fn the_search_page_carries_its_query_as_text_and_every_page_has_the_search_box() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let page = app
        .get("/search/?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E", None)
        .await;
    assert_eq!(page.status(), 200);
    let body = page.text().await.expect("body");
    assert!(!body.contains("<script>alert"), "the query must be escaped");
    assert!(body.contains("data-q=\"&quot;&gt;&lt;script&gt;alert(1)"));
    assert!(body.contains("/static/search.js"));
    for path in ["/", "/chat/lobby/", "/accounts/login/", "/search/"] {
        let body = app.get(path, None).await.text().await.expect("body");
        assert!(
            body.contains("id=\"search-input\""),
            "{path}: the header's box"
        );
        assert!(
            body.contains("/static/search-box.js"),
            "{path}: its `/` key"
        );
    }
    for asset in ["/static/search.js", "/static/search-box.js"] {
        assert_eq!(app.get(asset, None).await.status(), 200, "{asset}");
    }
    app.stop().await;

    // Without guests, a visitor is sent to log in (the API would answer 401).
    let dir = TempDir::new();
    let mut config = crate::helpers::test_config(dir.sqlite_url());
    config.guests = false;
    let app = crate::helpers::spawn_app_with(config).await;
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/search/?q=x"))
        .send()
        .await
        .expect("search page");
    assert_eq!(redirect.status(), 303);
    assert_eq!(
        redirect.headers()["location"],
        "/accounts/login/?next=/search/"
    );
    app.stop().await;
}
