//! Users in the admin: staff create a user (who can then log in, and open the admin if made staff), a
//! bad form comes back with its error; the user list searches names and emails and shows fifty a page;
//! staff rights are given and taken, and nobody can deactivate themself or drop their own rights.

use crate::accounts::member;
use crate::helpers::TempDir;
use crate::people::{Browser, PASSWORD};

use super::{
    STAFF, admin_app, assert_two_pages, audit_rows, audited, create_user, follow, get_ok, page_of,
    post_flag, redirected, set_flag, table, user_id, user_names, user_rows,
};

#[tokio::test]
async fn staff_create_a_user_who_can_log_in_and_a_bad_form_is_shown_again_with_its_error() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let page = create_user(
        &mut staff,
        &[
            ("username", "grace"),
            ("email", "grace@example.com"),
            ("password", PASSWORD),
            ("is_staff", "on"),
        ],
    )
    .await;
    let location = redirected(&page, "/admin/users/");
    let id: i64 = location
        .trim_start_matches("/admin/users/")
        .split('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("redirected to the new user's page, not {location}"));
    assert!(location.contains("?notice=user%20created"), "{location}");
    let detail = get_ok(&mut staff, &location).await;
    assert!(detail.body.contains("<h1>grace</h1>"), "{}", detail.body);
    assert!(detail.body.contains("user created"), "the notice is shown");
    assert!(detail.body.contains("grace@example.com"));
    assert!(detail.body.contains("id=\"user-staff\">yes<"));
    assert!(detail.body.contains("id=\"user-active\">yes<"));
    assert_eq!(user_id(&mut staff, "grace").await, id);
    let row = audited(&mut staff, STAFF, "user.create", "grace").await;
    assert_eq!(row[4], "staff");

    // She logs in with that password, and being staff she may open the admin.
    let mut grace = Browser::new(app.addr);
    redirected(&grace.log_in("grace", PASSWORD).await, "/");
    get_ok(&mut grace, "/admin/").await;

    // A plain user, created without the box ticked, is not staff.
    let page = create_user(
        &mut staff,
        &[("username", "hopper"), ("password", PASSWORD)],
    )
    .await;
    assert!(
        follow(&mut staff, &page, "/admin/users/")
            .await
            .contains("id=\"user-staff\">no<")
    );
    assert_eq!(
        audited(&mut staff, STAFF, "user.create", "hopper").await[4],
        ""
    );

    // Errors: the form again with the message, and no user.
    let taken = create_user(&mut staff, &[("username", "GRACE"), ("password", PASSWORD)]).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert!(
        taken
            .body
            .contains("A user with that username already exists."),
        "{}",
        taken.body
    );
    assert!(
        taken.body.contains("id=\"create-user\""),
        "the form is shown again"
    );
    for (username, password) in [("lin", "short"), ("no spaces", PASSWORD)] {
        let refused = create_user(
            &mut staff,
            &[("username", username), ("password", password)],
        )
        .await;
        assert_eq!(refused.status, 200, "{}", refused.body);
        assert!(refused.body.contains("class=\"error"), "{}", refused.body);
    }
    assert!(user_rows(&mut staff, "lin").await.is_empty());
    assert_eq!(
        user_names(&mut staff, "").await,
        ["boss", "grace", "hopper"]
    );
    let creations = audit_rows(&mut staff).await;
    assert_eq!(
        creations.len(),
        2,
        "failed creations are not audited: {creations:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_user_list_searches_names_and_emails_case_insensitively() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    for (name, email) in [
        ("ada", "ada@engines.example"),
        ("grace", "grace@navy.example"),
        ("Gracie", ""),
    ] {
        let page = create_user(
            &mut staff,
            &[("username", name), ("email", email), ("password", PASSWORD)],
        )
        .await;
        redirected(&page, "/admin/users/");
    }
    assert_eq!(user_names(&mut staff, "GRAC").await, ["grace", "Gracie"]);
    assert_eq!(user_names(&mut staff, "engines").await, ["ada"]);
    assert_eq!(user_names(&mut staff, "nobody").await, Vec::<String>::new());
    assert_eq!(
        user_names(&mut staff, "%").await,
        Vec::<String>::new(),
        "% is literal"
    );
    let all = user_rows(&mut staff, "").await;
    let names: Vec<&str> = all.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["ada", "boss", "grace", "Gracie"]);
    let ada = &all[0];
    assert_eq!(&ada[1..4], ["ada@engines.example", "no", "yes"]);
    assert_eq!(ada[4], "never", "ada never logged in");
    let body = page_of(&mut staff, "/admin/users/?q=grac").await;
    assert!(
        body.contains("value=\"grac\""),
        "the search box keeps the query"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_user_list_shows_fifty_users_a_page_and_a_pager_saying_which_page_of_how_many() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let db = chatweb::storage::Store::connect(&dir.sqlite_url())
        .await
        .expect("db");
    let accounts = chatweb::accounts::Accounts::new(
        db.db(),
        chatweb::config::Config::default().account_settings(),
    );
    for i in 0..50 {
        accounts
            .create_user(&format!("user{i:02}"), "", PASSWORD, false)
            .await
            .expect("user");
    }
    // 51 users (with the staff user): two pages, in name order.
    let first = page_of(&mut staff, "/admin/users/").await;
    let rows = table(&first, "user-list");
    assert_eq!(rows.len(), 50);
    assert_eq!(
        (rows[0][0].as_str(), rows[49][0].as_str()),
        ("boss", "user48")
    );
    let second = page_of(&mut staff, "/admin/users/?q=&page=2").await;
    let rows = table(&second, "user-list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "user49");
    let searched = page_of(&mut staff, "/admin/users/?q=user4").await;
    assert_eq!(table(&searched, "user-list").len(), 10);

    assert_two_pages(&first, &second, 51);
    assert!(searched.contains("page 1 of 1 (10)"), "{searched}");
    app.stop().await;
}

#[tokio::test]
async fn a_staff_user_cannot_deactivate_themself_or_drop_their_own_staff_rights() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let me = user_id(&mut staff, STAFF).await;
    let detail = page_of(&mut staff, &format!("/admin/users/{me}/")).await;
    assert!(
        !detail.contains("id=\"toggle-active\""),
        "no button to deactivate oneself"
    );
    let page = post_flag(&mut staff, me, "active", "false").await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = post_flag(&mut staff, me, "staff", "false").await;
    assert_eq!(page.status, 400, "{}", page.body);
    page_of(&mut staff, "/admin/").await;
    assert_eq!(&user_rows(&mut staff, STAFF).await[0][2..4], ["yes", "yes"]);
    assert!(audit_rows(&mut staff).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_user_made_staff_can_open_the_admin_and_loses_it_when_their_staff_rights_go() {
    let dir = TempDir::new();
    let (app, mut staff) = admin_app(&dir).await;
    let mut ada = member(&app, "ada").await;
    assert_eq!(ada.get("/admin/").await.status, 403);
    let id = user_id(&mut staff, "ada").await;

    set_flag(&mut staff, id, "staff", "true").await;
    assert!(
        page_of(&mut staff, &format!("/admin/users/{id}/"))
            .await
            .contains("id=\"user-staff\">yes<")
    );
    // The same session: staff rights are read on every request.
    let index = get_ok(&mut ada, "/admin/").await;
    assert!(index.body.contains("<h1>Admin</h1>"));
    get_ok(&mut ada, "/admin/audit/").await;
    audited(&mut staff, STAFF, "user.staff", "ada").await;

    set_flag(&mut staff, id, "staff", "false").await;
    assert_eq!(ada.get("/admin/").await.status, 403);
    audited(&mut staff, STAFF, "user.unstaff", "ada").await;
    app.stop().await;
}
