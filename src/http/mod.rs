//! The HTTP pages: the lobby and rooms, the account pages, invite links, static assets, health and metrics, plus what
//! every page shares (`page`). `routes.rs` merges these with the admin and the socket.

mod accounts;
mod assets;
mod health;
mod invites;
pub mod page;
pub mod room_param;
mod views;

use axum::Router;

use crate::state::AppState;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(views::router())
        .merge(accounts::router())
        .merge(invites::router())
        .merge(assets::router())
        .merge(health::router())
}
