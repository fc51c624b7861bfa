//! `Config`: every setting of a serving node in one struct. Each field is a flag with a `CHATWEB_*` env twin
//! (the flag wins) and its doc comment is the `--help` text. Parsed once in `main`; library code never reads
//! the environment.

use std::time::Duration;

use clap::Args;

use crate::storage::{Durability, StoreSettings};

/// The database used when none is configured: SQLite next to the working directory, like Django's.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://db.sqlite3";

/// Settings of a serving node.
#[derive(Clone, Args)] // no Debug: later settings will carry credentials
pub struct Config {
    /// Address to bind to.
    #[arg(long, env = "CHATWEB_BIND", default_value = "127.0.0.1")]
    pub bind: String,

    /// Port to listen on; 0 lets the OS pick a free one (the log says which).
    #[arg(long, env = "CHATWEB_PORT", default_value_t = 8000)]
    pub port: u16,

    /// Database: `sqlite://path` (default; created when missing) or `postgres://...`; migrated at start.
    #[arg(long, env = "CHATWEB_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Fan out through Redis pub/sub (`redis://host:port`) so several nodes act as one chat; unset means
    /// one node, in memory.
    #[arg(long, env = "CHATWEB_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of this chat's channels in Redis, so several chats can share one Redis.
    #[arg(long, env = "CHATWEB_REDIS_PREFIX", default_value = "chatweb")]
    pub redis_prefix: String,

    /// This deployment's id in every Redis payload: a node ignores other clusters' payloads on its
    /// channels. Unset: derived from the database (when it was created and its name), so every node of
    /// one deployment agrees and two deployments on one Redis prefix never mix. 1 to 64 characters of
    /// ASCII letters, digits, `-`, `_`, `.`, `:`.
    #[arg(long, env = "CHATWEB_CLUSTER_ID")]
    pub cluster_id: Option<String>,

    /// Bytes the Redis outbox (events waiting to be published) may hold; past it each room keeps only its
    /// newest stored event and ephemeral ones are dropped (other nodes heal from the store).
    #[arg(long, env = "CHATWEB_REDIS_OUTBOX_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub redis_outbox_bytes: usize,

    /// Milliseconds between two checks of the served rooms' stored heads (one query per 500 rooms): with
    /// Redis, a room whose newest message never came through it heals within two periods.
    #[arg(long, env = "CHATWEB_REDIS_HEAL_MS", default_value_t = 2000)]
    pub redis_heal_ms: u64,

    /// Largest accepted chat message, in bytes of UTF-8.
    #[arg(long, env = "CHATWEB_MAX_MESSAGE_BYTES", default_value_t = 4096)]
    pub max_message_bytes: usize,

    /// Hosts a WebSocket handshake's `Origin` may name, comma-separated (like Django's ALLOWED_HOSTS:
    /// `*` allows any, `.example.com` a domain and its subdomains). localhost, 127.0.0.1, ::1 and the bind
    /// address are always allowed.
    #[arg(long, env = "CHATWEB_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// How many recent messages a plain join shows (the room page and a client without `since`).
    #[arg(long, env = "CHATWEB_HISTORY", default_value_t = 50)]
    pub history: u32,

    /// Bytes the recent-history cache of a single node may hold (each room counts a fixed 256 bytes
    /// besides its name and messages; the least recently used rooms go first). 0 turns the cache off.
    #[arg(long, env = "CHATWEB_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_bytes: usize,

    /// What an ack promises: `process` (default): stored so that a crash of the process loses nothing
    /// acked (SQLite `synchronous=NORMAL`); `power`: a power loss loses nothing acked either (SQLite
    /// `synchronous=FULL`, one WAL fsync per commit; see docs/PERFORMANCE.md for its cost). PostgreSQL
    /// flushes every commit either way.
    #[arg(long, env = "CHATWEB_DURABILITY", value_enum, default_value_t = Durability::Process)]
    pub durability: Durability,

    /// Milliseconds between the SQLite checkpointer's passes, which move the WAL into the database file
    /// on a connection of their own so that no commit waits for a checkpoint.
    #[arg(long, env = "CHATWEB_CHECKPOINT_MS", default_value_t = 100)]
    pub checkpoint_ms: u64,

    /// Bytes the SQLite WAL may hold before the checkpointer starts it over, which holds commits back for
    /// about a millisecond; more means fewer of those pauses and a bigger WAL file.
    #[arg(long, env = "CHATWEB_WAL_MAX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub wal_max_bytes: u64,

    /// PostgreSQL: milliseconds a batch of sends may take to store, a statement may run and a transaction
    /// may sit idle on the node's connections; past it the send is answered `outcome_unknown` and the
    /// server ends a session whose client vanished mid-transaction (releasing its rooms).
    #[arg(long, env = "CHATWEB_STORE_TIMEOUT_MS", default_value_t = 5000)]
    pub store_timeout_ms: u64,

    /// PostgreSQL: milliseconds the writer waits for a room that another connection holds locked before
    /// it stores the rest of the batch without it; that room's sends are answered `store_unavailable`.
    #[arg(long, env = "CHATWEB_STORE_LOCK_TIMEOUT_MS", default_value_t = 1000)]
    pub store_lock_timeout_ms: u64,

    /// History and catch-up reads of the message store running at once; the connections asking the same
    /// read at once share one, the others wait their turn. At least 1.
    #[arg(long, env = "CHATWEB_CATCH_UP_READS", default_value_t = 4)]
    pub catch_up_reads: usize,

    /// Messages a room's live buffer holds; a connection further behind catches up from the store.
    #[arg(long, env = "CHATWEB_ROOM_BUFFER", default_value_t = 1024)]
    pub room_buffer: usize,

    /// Bytes a room's live buffer holds at most (besides `--room-buffer` events; always at least the newest
    /// event); a connection further behind catches up from the store.
    #[arg(long, env = "CHATWEB_ROOM_BUFFER_BYTES", default_value_t = 1024 * 1024)]
    pub room_buffer_bytes: usize,

    /// Outbound bytes a connection buffers before writing to its socket. A connection whose socket is
    /// full waits; one that falls behind the room's live buffer catches up from the store.
    #[arg(long, env = "CHATWEB_SEND_BUFFER_BYTES", default_value_t = 16 * 1024)]
    pub send_buffer_bytes: usize,

    /// Messages one connection may have waiting for the store before it stops reading more.
    #[arg(long, env = "CHATWEB_MAX_IN_FLIGHT", default_value_t = 64)]
    pub max_in_flight: usize,

    /// Seconds a peer has to answer a ping (or take a write) before it is closed.
    #[arg(long, env = "CHATWEB_KEEPALIVE_SECS", default_value_t = 30)]
    pub keepalive_secs: u64,

    /// Seconds a graceful stop may take in all (finishing requests, closing sockets, storing what was
    /// queued); whatever is still open then is dropped and the process exits anyway.
    #[arg(long, env = "CHATWEB_SHUTDOWN_SECS", default_value_t = 10)]
    pub shutdown_secs: u64,

    /// Seconds a client has to send a request's headers (and an idle keep-alive connection to start its
    /// next request) before its connection is closed: a half-sent request never holds a descriptor, or a
    /// stop, for longer. 0 counts as 1.
    #[arg(long, env = "CHATWEB_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Most messages the store writer commits in one transaction.
    #[arg(long, env = "CHATWEB_WRITE_BATCH", default_value_t = 8192)]
    pub write_batch: usize,

    /// Let visitors without an account chat under a nickname (`--guests=false`: rooms are members-only).
    #[arg(long, env = "CHATWEB_GUESTS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub guests: bool,

    /// Days a login session lasts.
    #[arg(long, env = "CHATWEB_SESSION_DAYS", default_value_t = 14)]
    pub session_days: u64,

    /// Mark cookies `Secure` (also done for requests that arrive with `X-Forwarded-Proto: https`).
    #[arg(long, env = "CHATWEB_SECURE_COOKIES", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub secure_cookies: bool,

    /// Failed logins for one username or from one address (IPv6: its /64) before further attempts must
    /// wait; attempts sent at once count as they begin, so no more than this many passwords are checked.
    #[arg(long, env = "CHATWEB_LOGIN_FAILURES", default_value_t = 5)]
    pub login_failures: u32,

    /// Seconds a throttled username or address waits before it may try again.
    #[arg(long, env = "CHATWEB_LOGIN_LOCKOUT_SECS", default_value_t = 60)]
    pub login_lockout_secs: u64,

    /// People a room's presence lists by name; a bigger room sends only its count (every change of a
    /// listed room goes to every member, so its cost grows with the square of the room).
    #[arg(long, env = "CHATWEB_PRESENCE_LIST_MAX", default_value_t = 100)]
    pub presence_list_max: usize,

    /// People a room may hold for anyone to use `@here` and `@room` in it; in a bigger room only its
    /// owners, moderators and staff may (for anyone else they are plain text).
    #[arg(long, env = "CHATWEB_MENTION_ALL_MAX", default_value_t = 20)]
    pub mention_all_max: usize,

    /// Milliseconds the search indexer waits after catching up before it looks for new messages again: a
    /// message is searchable about this long after it is stored.
    #[arg(long, env = "CHATWEB_SEARCH_INDEX_MS", default_value_t = 500)]
    pub search_index_ms: u64,

    /// Where uploaded files are kept (src/files/location.rs).
    #[command(flatten)]
    pub file_store: crate::files::FileStoreArgs,

    /// Largest uploaded file, in bytes.
    #[arg(long, env = "CHATWEB_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// Bytes one person may upload in 24 hours.
    #[arg(long, env = "CHATWEB_UPLOAD_QUOTA_BYTES", default_value_t = 500 * 1024 * 1024)]
    pub upload_quota_bytes: u64,

    /// Let guests upload files (to rooms they may write in).
    #[arg(long, env = "CHATWEB_GUEST_UPLOADS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub guest_uploads: bool,

    /// Most pixels an uploaded image may have: a bigger one (a decompression bomb, say) is refused
    /// before anything decodes it.
    #[arg(long, env = "CHATWEB_MAX_IMAGE_PIXELS", default_value_t = 50_000_000)]
    pub max_image_pixels: u64,

    /// Seconds an upload may wait to be attached to a message before it is removed.
    #[arg(long, env = "CHATWEB_UPLOAD_EXPIRY_SECS", default_value_t = 3600)]
    pub upload_expiry_secs: u64,

    /// Milliseconds between two passes of the file janitor (which removes the bytes of deleted messages'
    /// files and of expired uploads).
    #[arg(long, env = "CHATWEB_FILES_SWEEP_MS", default_value_t = 60_000)]
    pub files_sweep_ms: u64,

    /// Least milliseconds between two typing broadcasts of one person in one room.
    #[arg(long, env = "CHATWEB_TYPING_INTERVAL_MS", default_value_t = 3000)]
    pub typing_interval_ms: u64,

    /// Seconds another node's people stay present without its heartbeat (a third of this): the time a
    /// node that died takes to leave everyone's presence.
    #[arg(long, env = "CHATWEB_PRESENCE_TTL_SECS", default_value_t = 45)]
    pub presence_ttl_secs: u64,

    /// Remove messages (and edit and delete events) older than this many days, in every room without a
    /// rule of its own (set on the admin's room page); unset keeps everything.
    #[arg(long, env = "CHATWEB_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,

    /// Seconds between two retention runs (the first runs at start).
    #[arg(long, env = "CHATWEB_RETENTION_INTERVAL_SECS", default_value_t = 600)]
    pub retention_interval_secs: u64,

    /// Most rows retention removes in one transaction (each batch is its own short transaction, queued on
    /// the store writer between message batches).
    #[arg(long, env = "CHATWEB_RETENTION_BATCH", default_value_t = 500)]
    pub retention_batch: u32,

    /// Rate and connection limits, `--limits off`, and the trusted proxies (src/limits/).
    #[command(flatten)]
    pub limits: crate::limits::LimitSettings,

    /// Web Push: the VAPID contact, the push services' hosts, coalescing, previews (src/push/).
    #[command(flatten)]
    pub push: crate::push::PushSettings,
    /// Outgoing webhooks: the hosts they may reach besides public ones, retries, pacing (src/hooks/).
    #[command(flatten)]
    pub webhooks: crate::hooks::WebhookArgs,
}

impl Config {
    /// How presence behaves.
    pub fn presence_settings(&self) -> crate::presence::PresenceSettings {
        crate::presence::PresenceSettings {
            list_max: self.presence_list_max,
            typing_every: Duration::from_millis(self.typing_interval_ms),
            ttl: Duration::from_secs(self.presence_ttl_secs.max(1)),
        }
    }

    /// How room occupancy paces its claims: presence's TTL, heartbeat and sweep, and the webhooks' give-up
    /// time for its events.
    pub fn occupancy_settings(&self) -> crate::occupancy::OccupancySettings {
        let presence = self.presence_settings();
        crate::occupancy::OccupancySettings {
            ttl: presence.ttl,
            heartbeat: presence.heartbeat(),
            sweep: presence.sweep(),
            keep: Duration::from_secs(self.webhooks.webhook_give_up_secs),
        }
    }

    /// The keepalive timeout.
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs.max(1))
    }

    /// The store's durability and WAL checkpoints.
    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings {
            durability: self.durability,
            checkpoint_interval: Duration::from_millis(self.checkpoint_ms),
            wal_max_bytes: self.wal_max_bytes,
            timeout: Duration::from_millis(self.store_timeout_ms.max(1)),
            lock_timeout: Duration::from_millis(self.store_lock_timeout_ms.max(1)),
        }
    }

    /// How accounts behave.
    pub fn account_settings(&self) -> crate::accounts::AccountSettings {
        crate::accounts::AccountSettings {
            session_ttl: Duration::from_secs(self.session_days.max(1).saturating_mul(24 * 3600)),
            secure_cookies: self.secure_cookies,
            guests: self.guests,
            login_failures: self.login_failures,
            login_lockout: Duration::from_secs(self.login_lockout_secs),
        }
    }

    /// How retention runs.
    pub fn retention_settings(&self) -> crate::retention::RetentionSettings {
        crate::retention::RetentionSettings {
            keep: crate::retention::Keep::server(self.retention_days),
            interval: Duration::from_secs(self.retention_interval_secs.max(1)),
            batch: self.retention_batch.max(1),
        }
    }

    /// Where uploaded files are kept.
    pub fn files_location(&self) -> crate::files::FilesLocation {
        self.file_store.location(&self.database_url)
    }

    /// The limits of uploads.
    pub fn file_settings(&self) -> crate::files::FileSettings {
        crate::files::FileSettings {
            max_upload_bytes: self.max_upload_bytes,
            quota_bytes: self.upload_quota_bytes,
            guest_uploads: self.guest_uploads,
            max_image_pixels: self.max_image_pixels,
            upload_expiry: Duration::from_secs(self.upload_expiry_secs),
            sweep: Duration::from_millis(self.files_sweep_ms.max(10)),
        }
    }

    /// The graceful-stop bound.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_secs)
    }

    /// How long a request's headers may take to arrive (never unbounded).
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs.max(1))
    }

    /// The largest WebSocket message accepted at all. It sits well above the chat message limit so that an
    /// oversized chat message gets an error frame instead of a closed socket.
    pub fn max_frame_bytes(&self) -> usize {
        (self.max_message_bytes.saturating_mul(16)).max(256 * 1024)
    }

    /// Every host an `Origin` may name: the configured ones plus loopback and the bind address.
    pub fn origin_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let bind = self.bind.trim_start_matches('[').trim_end_matches(']');
        if !bind.is_empty() && bind != "0.0.0.0" && bind != "::" {
            hosts.push(bind.to_ascii_lowercase());
        }
        hosts.extend(
            self.allowed_hosts
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        );
        hosts
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 8000,
            database_url: DEFAULT_DATABASE_URL.into(),
            redis_url: None,
            redis_prefix: "chatweb".into(),
            cluster_id: None,
            redis_outbox_bytes: 32 * 1024 * 1024,
            redis_heal_ms: 2000,
            max_message_bytes: 4096,
            allowed_hosts: Vec::new(),
            history: 50,
            cache_bytes: 64 * 1024 * 1024,
            catch_up_reads: 4,
            durability: Durability::Process,
            checkpoint_ms: 100,
            wal_max_bytes: 4 * 1024 * 1024,
            store_timeout_ms: 5000,
            store_lock_timeout_ms: 1000,
            room_buffer: 1024,
            room_buffer_bytes: 1024 * 1024,
            send_buffer_bytes: 16 * 1024,
            max_in_flight: 64,
            keepalive_secs: 30,
            shutdown_secs: 10,
            header_timeout_secs: 10,
            write_batch: 8192,
            guests: true,
            session_days: 14,
            secure_cookies: false,
            login_failures: 5,
            login_lockout_secs: 60,
            presence_list_max: 100,
            mention_all_max: 20,
            search_index_ms: 500,
            file_store: crate::files::FileStoreArgs::default(),
            max_upload_bytes: 25 * 1024 * 1024,
            upload_quota_bytes: 500 * 1024 * 1024,
            guest_uploads: false,
            max_image_pixels: 50_000_000,
            upload_expiry_secs: 3600,
            files_sweep_ms: 60_000,
            typing_interval_ms: 3000,
            presence_ttl_secs: 45,
            retention_days: None,
            retention_interval_secs: 600,
            retention_batch: 500,
            limits: crate::limits::LimitSettings::default(),
            push: crate::push::PushSettings::default(),
            webhooks: crate::hooks::WebhookArgs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn the_default_matches_the_command_line_defaults() {
        // Env twins would override the flags' defaults; this test reads none of them.
        let parsed = Wrapper::parse_from(["chatweb"]).config;
        let default = Config::default();
        if std::env::vars()
            .any(|(k, _)| k.starts_with("CHATWEB_") && !k.starts_with("CHATWEB_TEST_"))
        {
            return;
        }
        assert_eq!(parsed.bind, default.bind);
        assert_eq!(parsed.port, default.port);
        assert_eq!(parsed.database_url, default.database_url);
        assert_eq!(parsed.redis_url, default.redis_url);
        assert_eq!(parsed.redis_prefix, default.redis_prefix);
        assert_eq!(parsed.max_message_bytes, default.max_message_bytes);
        assert_eq!(parsed.allowed_hosts, default.allowed_hosts);
        assert_eq!(parsed.history, default.history);
        assert_eq!(parsed.cache_bytes, default.cache_bytes);
        assert_eq!(parsed.catch_up_reads, default.catch_up_reads);
        assert_eq!(parsed.room_buffer, default.room_buffer);
        assert_eq!(parsed.room_buffer_bytes, default.room_buffer_bytes);
        assert_eq!(parsed.cluster_id, default.cluster_id);
        assert_eq!(parsed.redis_outbox_bytes, default.redis_outbox_bytes);
        assert_eq!(parsed.redis_heal_ms, default.redis_heal_ms);
        assert_eq!(parsed.send_buffer_bytes, default.send_buffer_bytes);
        assert_eq!(parsed.max_in_flight, default.max_in_flight);
        assert_eq!(parsed.keepalive_secs, default.keepalive_secs);
        assert_eq!(parsed.shutdown_secs, default.shutdown_secs);
        assert_eq!(parsed.header_timeout_secs, default.header_timeout_secs);
        assert_eq!(parsed.write_batch, default.write_batch);
        assert_eq!(parsed.guests, default.guests);
        assert_eq!(parsed.session_days, default.session_days);
        assert_eq!(parsed.secure_cookies, default.secure_cookies);
        assert_eq!(parsed.login_failures, default.login_failures);
        assert_eq!(parsed.login_lockout_secs, default.login_lockout_secs);
        assert_eq!(parsed.limits, default.limits);
        assert_eq!(parsed.retention_days, default.retention_days);
        assert_eq!(
            parsed.retention_interval_secs,
            default.retention_interval_secs
        );
        assert_eq!(parsed.retention_batch, default.retention_batch);
    }

    #[test]
    fn retention_days_must_be_positive() {
        let parsed = Wrapper::parse_from(["chatweb", "--retention-days", "30"]).config;
        assert_eq!(parsed.retention_days, Some(30));
        assert!(Wrapper::try_parse_from(["chatweb", "--retention-days", "0"]).is_err());
    }

    #[test]
    fn guests_can_be_turned_off_with_an_explicit_value() {
        let parsed = Wrapper::parse_from(["chatweb", "--guests=false"]).config;
        assert!(!parsed.guests);
        let parsed = Wrapper::parse_from(["chatweb", "--guests"]).config;
        assert!(parsed.guests);
    }

    #[test]
    fn origins_include_loopback_the_bind_address_and_configured_hosts() {
        let config = Config {
            bind: "192.0.2.7".into(),
            allowed_hosts: vec![" Chat.Example.org ".into()],
            ..Config::default()
        };
        let hosts = config.origin_hosts();
        for host in [
            "localhost",
            "127.0.0.1",
            "::1",
            "192.0.2.7",
            "chat.example.org",
        ] {
            assert!(hosts.iter().any(|h| h == host), "{host}");
        }
        let any = Config {
            bind: "0.0.0.0".into(),
            ..Config::default()
        };
        assert!(!any.origin_hosts().iter().any(|h| h == "0.0.0.0"));
    }
}
