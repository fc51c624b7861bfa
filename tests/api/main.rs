//! Integration tests: real nodes on port 0, real SQLite files, real WebSocket clients and a real browser.

mod bench;
mod browser;
mod chat;
mod cluster;
mod errors;
mod faults;
mod handshake;
mod helpers;
mod history;
mod keepalive;
mod pages;
mod resilience;
mod services;
mod shutdown;
mod store;
