//! The page templates, compiled into the binary: the pages' and the admin's, sharing `base.html`.

/// Every template: (name, source).
pub const ALL: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("lobby.html", include_str!("../templates/lobby.html")),
    ("room.html", include_str!("../templates/room.html")),
    ("search.html", include_str!("../templates/search.html")),
    (
        "members_panel.html",
        include_str!("../templates/members_panel.html"),
    ),
    ("signup.html", include_str!("../templates/signup.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("invite.html", include_str!("../templates/invite.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    (
        "admin/base.html",
        include_str!("../templates/admin/base.html"),
    ),
    (
        "admin/macros.html",
        include_str!("../templates/admin/macros.html"),
    ),
    (
        "admin/index.html",
        include_str!("../templates/admin/index.html"),
    ),
    (
        "admin/users.html",
        include_str!("../templates/admin/users.html"),
    ),
    (
        "admin/user.html",
        include_str!("../templates/admin/user.html"),
    ),
    (
        "admin/rooms.html",
        include_str!("../templates/admin/rooms.html"),
    ),
    (
        "admin/room.html",
        include_str!("../templates/admin/room.html"),
    ),
    (
        "admin/messages.html",
        include_str!("../templates/admin/messages.html"),
    ),
    (
        "admin/audit.html",
        include_str!("../templates/admin/audit.html"),
    ),
    (
        "admin/hooks.html",
        include_str!("../templates/admin/hooks.html"),
    ),
];

/// The template environment; `.html` names are autoescaped.
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, source) in ALL {
        // The templates are compiled in and covered by tests; a syntax error is a build defect.
        #[allow(clippy::expect_used)]
        env.add_template(name, source)
            .expect("embedded template parses");
    }
    env
}
