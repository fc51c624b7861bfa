//! A room's members in the admin: staff add and remove members through its forms (audited, since only
//! their staff rights allow it), the room list shows each room's kind, and a direct room is read-only.

use serde_json::json;

use super::{api, members, person};
use crate::helpers::{TempDir, spawn_app};
use crate::people::staff_browser;

#[tokio::test]
async fn staff_add_and_remove_a_member_in_the_admin_and_it_is_in_the_audit_log() {
    let dir = TempDir::new();
    let app = spawn_app(&dir).await;
    let mut boss = staff_browser(app.addr, &dir.sqlite_url(), "boss").await;
    let mut ada = person(app.addr, "ada").await;
    let mut bob = person(app.addr, "bob").await;
    let room = json!({"name": "vault", "kind": "private"});
    assert_eq!(
        api(app.addr, &mut ada, "POST", "/api/rooms/", Some(room))
            .await
            .0,
        201
    );

    let list = boss.get("/admin/rooms/").await.body;
    assert!(
        list.contains("<td>private</td>"),
        "the list shows the kind: {list}"
    );
    let page = boss.get("/admin/rooms/vault/").await.body;
    assert!(page.contains("id=\"member-list\"") && page.contains("<td>ada</td><td>owner</td>"));
    let page = boss
        .post(
            "/admin/rooms/vault/members",
            &[("user", "bob"), ("role", "member")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(bob.get("/chat/vault/").await.status, 200, "bob is in");
    assert!(
        boss.get("/admin/rooms/vault/")
            .await
            .body
            .contains("<td>bob</td><td>member</td>")
    );
    let page = boss
        .post("/admin/rooms/vault/members/bob/remove", &[])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(bob.get("/chat/vault/").await.status, 404, "bob is out");
    let audit = boss.get("/admin/audit/").await.body;
    for detail in ["added bob", "removed bob"] {
        assert!(audit.contains(detail), "{detail} in the audit log: {audit}");
    }
    assert!(audit.contains("room.members"));

    // A direct room is read-only here.
    let (status, body) = api(
        app.addr,
        &mut ada,
        "POST",
        "/api/dms/",
        Some(json!({"users": ["bob"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dm = body["name"].as_str().expect("name").to_owned();
    let page = boss.get(&format!("/admin/rooms/{dm}/")).await.body;
    assert!(page.contains("never change") && !page.contains("id=\"add-member-form\""));
    let page = boss
        .post(
            &format!("/admin/rooms/{dm}/members"),
            &[("user", "boss"), ("role", "member")],
        )
        .await;
    assert!(
        page.body
            .contains("a direct room&#x27;s members never change"),
        "{}",
        page.body
    );
    let page = boss
        .post(&format!("/admin/rooms/{dm}/members/bob/remove"), &[])
        .await;
    assert_eq!(page.status, 200, "shown again with the refusal");
    let mut got = members(app.addr, &mut ada, &dm).await;
    got.sort();
    assert_eq!(
        got,
        [
            ("ada".into(), "member".into()),
            ("bob".into(), "member".into())
        ]
    );
    app.stop().await;
}
