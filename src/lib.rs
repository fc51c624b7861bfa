//! chatweb: a real-time chat server. A lobby, named rooms, WebSocket chat wire-compatible with the Django
//! Channels tutorial, and a stored, gap-free history per room (docs/ARCHITECTURE.md describes the message
//! path and its invariants).

/// The one check of who may read and write a room: kinds, members, roles, bans.
pub mod access;
/// Users, passwords, sessions, API tokens, CSRF and the identity of every request.
pub mod accounts;
/// The staff pages at `/admin/`: users, rooms, messages, the audit log.
pub mod admin;
/// The JSON HTTP API under `/api/` (room list, history pages) and its OpenAPI document.
pub mod api;
/// Assembling a node: connecting the services, binding the socket, serving until stopped.
pub mod app;
/// Backups, exports and imports: `chatweb backup`, `export` and `import`.
pub mod archive;
/// The pieces that carry committed messages to every subscriber of a room.
pub mod channels;
/// The command line, in the spirit of Django's `manage.py`.
pub mod cli;
/// The one settings struct, with a flag and a `CHATWEB_*` env twin for each setting.
pub mod config;
/// Moving over from the Django Channels chat app: `chatweb import-django`, and Django's password hashes.
pub mod django;
/// Validated values: room names, user names, message bodies; and the one timestamp format.
pub mod domain;
/// HTTP errors and how they become responses.
pub mod error;
/// Files and images in messages: uploads, the file store, downloads, thumbnails.
pub mod files;
/// Outgoing webhooks: registration, signed batches in room order, retries.
pub mod hooks;
/// The HTTP pages: lobby, room page, account pages, static assets, health.
pub mod http;
/// Incoming webhooks (Slack-compatible): made per room by its owners or staff, posting as bots.
pub mod incoming;
/// Rate and connection limits per connection, user and address; the client's address.
pub mod limits;
/// The management commands: createsuperuser, changepassword, API tokens.
pub mod manage;
/// Mutes, bans, kicks and slow mode per room: stored, audited, applied on every node within a second.
pub mod moderation;
/// Whether each room has anyone on any node, for outgoing webhooks' `room_occupied`/`room_vacated`.
pub mod occupancy;
/// Requests to URLs someone else chose (push endpoints, webhook receivers), guarded against SSRF.
pub mod outbound;
/// One chat message from any door (socket, publish API, incoming webhook), made ready for the store.
pub mod posting;
/// Who is in each room and who is typing: ephemeral, never stored.
pub mod presence;
/// The chat socket's wire protocol: client frames parsed, server frames encoded.
pub mod protocol;
/// Web Push: notifications for people away from a room, encrypted and signed (RFC 8291, RFC 8292).
pub mod push;
/// Connection URLs with their passwords hidden, for logs and error messages.
pub mod redaction;
/// Retention: the background task that removes history older than the server's or the room's rule.
pub mod retention;
/// Every route of a node, merged behind CSRF protection and tracing.
pub mod routes;
/// Full-text search: folding, queries, and the indexer that follows each room's sequence.
pub mod search;
/// What every handler and connection shares.
pub mod state;
/// Process-wide counters that operations care about.
pub mod stats;
/// Where messages live: the store, its backends and the group-commit writer.
pub mod storage;
/// Whether a node's optional work (pushes, room occupancy) is wanted by anything in the store at all.
pub mod switch;
/// Logging setup.
pub mod telemetry;
/// The page templates, compiled in.
pub mod templates;
/// The WebSocket endpoint: handshake, per-socket consumer, fan-out of committed messages.
pub mod ws;
