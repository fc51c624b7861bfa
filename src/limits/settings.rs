//! The limits' settings: one flag (with its `CHATWEB_*` twin) per limit, `--limits off` for all of them at
//! once, and `--trusted-proxies`, which says whose `X-Forwarded-For` names the client. A numeric limit of 0
//! turns that one limit off.

use clap::{Args, ValueEnum};

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enforced.
    On,
    /// Not enforced.
    Off,
}

/// How hard one client may push a node.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct LimitSettings {
    /// Every limit below at once: `off` for benchmarks and load tests (which say so in their output).
    #[arg(long = "limits", env = "CHATWEB_LIMITS", value_enum, default_value_t = Switch::On)]
    pub switch: Switch,

    /// Chat messages, edits and deletions per second, per connection and per sender (a signed-in user
    /// across all their connections; guests: per address). Over it a send gets `rate_limited`.
    #[arg(long, env = "CHATWEB_SEND_RATE", default_value_t = 20)]
    pub send_rate: u32,

    /// Sends that may come at once before `--send-rate` holds them back.
    #[arg(long, env = "CHATWEB_SEND_BURST", default_value_t = 40)]
    pub send_burst: u32,

    /// WebSocket frames of any kind (typing, read marks, pings too) per second and connection, bursts of
    /// as many; frames over it are dropped, answered once with `rate_limited`.
    #[arg(long, env = "CHATWEB_FRAME_RATE", default_value_t = 100)]
    pub frame_rate: u32,

    /// Open WebSocket connections per client address; the next handshake gets 429.
    #[arg(long, env = "CHATWEB_CONNECTIONS_PER_ADDRESS", default_value_t = 200)]
    pub connections_per_address: u32,

    /// WebSocket handshakes per second per client address (bursts of as many); more get 429.
    #[arg(long, env = "CHATWEB_HANDSHAKE_RATE", default_value_t = 20)]
    pub handshake_rate: u32,

    /// Rooms one client address may create per minute (a room is created by its first stored message;
    /// joining a room that has none creates nothing); more get `rate_limited`.
    #[arg(long, env = "CHATWEB_NEW_ROOMS_PER_MIN", default_value_t = 10)]
    pub new_rooms_per_min: u32,

    /// Full-history replays per minute per client (a signed-in user, or a guest's address): `since=0`, or
    /// a resume more than `--replay-far-back` messages behind. More get 429 at the handshake and
    /// `rate_limited` on the socket.
    #[arg(long, env = "CHATWEB_REPLAYS_PER_MIN", default_value_t = 10)]
    pub replays_per_min: u32,

    /// How many messages behind the room's newest a resume must start to count as a full replay.
    #[arg(long, env = "CHATWEB_REPLAY_FAR_BACK", default_value_t = 1000)]
    pub replay_far_back: u64,

    /// Proxies whose `X-Forwarded-For` entry names the client, comma-separated IPs or CIDR ranges. None
    /// by default: the header is believed from no one, not even loopback (a forwarder on this machine that
    /// passed a client's header on would let it pick its address). Behind nginx on this machine:
    /// `127.0.0.1`. Not switched by `--limits`: login throttling uses the same address.
    #[arg(long, env = "CHATWEB_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
}

impl LimitSettings {
    /// Whether the limits are enforced at all.
    pub fn on(&self) -> bool {
        self.switch == Switch::On
    }

    /// These settings with every limit off (tests of other features, benchmarks).
    pub fn off() -> Self {
        Self {
            switch: Switch::Off,
            ..Self::default()
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            switch: Switch::On,
            send_rate: 20,
            send_burst: 40,
            frame_rate: 100,
            connections_per_address: 200,
            handshake_rate: 20,
            new_rooms_per_min: 10,
            replays_per_min: 10,
            replay_far_back: 1000,
            trusted_proxies: Vec::new(),
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
        limits: LimitSettings,
    }

    #[test]
    fn the_default_matches_the_command_line_defaults() {
        if std::env::vars()
            .any(|(k, _)| k.starts_with("CHATWEB_") && !k.starts_with("CHATWEB_TEST_"))
        {
            return;
        }
        assert_eq!(
            Wrapper::parse_from(["chatweb"]).limits,
            LimitSettings::default()
        );
    }

    #[test]
    fn limits_turn_off_with_one_flag_and_proxies_are_a_list() {
        let parsed = Wrapper::parse_from([
            "chatweb",
            "--limits",
            "off",
            "--trusted-proxies",
            "10.0.0.0/8,192.0.2.1",
        ])
        .limits;
        assert!(!parsed.on());
        assert_eq!(parsed.trusted_proxies, ["10.0.0.0/8", "192.0.2.1"]);
        assert!(Wrapper::try_parse_from(["chatweb", "--limits", "maybe"]).is_err());
    }
}
