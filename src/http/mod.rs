//! The HTTP pages: the lobby and its forms, rooms and their members panel, the account pages, invite
//! links, the search page, static assets, health and metrics, plus what every page shares (`page`, and
//! `refusal` for what a form shows when a change is refused). `routes.rs` merges these with the admin and
//! the socket.

mod accounts;
mod assets;
mod health;
mod invites;
mod lobby;
mod members;
pub mod page;
mod push;
pub mod refusal;
pub mod room_param;
mod search;
mod views;

use axum::Router;

use crate::state::AppState;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(lobby::router())
        .merge(views::router())
        .merge(members::router())
        .merge(search::router())
        .merge(accounts::router())
        .merge(invites::router())
        .merge(assets::router())
        .merge(push::router())
        .merge(health::router())
}
