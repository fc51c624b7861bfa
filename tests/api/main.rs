//! Integration tests: real nodes on port 0, real SQLite files, real WebSocket clients and a real browser.

mod accounts;
mod admin;
mod bench;
mod browser;
mod browser_people;
mod chat;
mod chromium;
mod cluster;
mod errors;
mod faults;
mod handshake;
mod helpers;
mod history;
mod keepalive;
mod manage;
mod pages;
mod people;
mod resilience;
mod services;
mod shutdown;
mod store;
mod tokens;
