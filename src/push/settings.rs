//! Web Push's flags (flattened into `Config`): the VAPID contact, the push services' hosts, the coalescing
//! window, previews, and how long a push service keeps a message for an offline browser.

use std::time::Duration;

use clap::Args;

/// The push services browsers subscribe with: Chrome's (FCM), Firefox's (Mozilla autopush), Safari's
/// (Apple), and Edge's (Windows Notification Service, whose endpoints are on many `*.notify.windows.com`
/// hosts; a `*.` entry matches subdomains, which must still resolve to public addresses).
pub const DEFAULT_PUSH_HOSTS: &str = "fcm.googleapis.com,updates.push.services.mozilla.com,\
     web.push.apple.com,*.notify.windows.com";

/// Web Push settings.
#[derive(Clone, Debug, Args)]
pub struct PushSettings {
    /// The contact push services are given with every push (VAPID's `sub`, RFC 8292): a `mailto:` or
    /// `https:` URL where the operator can be reached. Set it to yours; some services refuse pushes
    /// whose contact looks fake.
    #[arg(long, env = "CHATWEB_VAPID_SUBJECT", default_value = "mailto:admin@localhost", value_parser = parse_subject)]
    pub vapid_subject: String,

    /// Hosts push subscriptions may point at, comma-separated `host` or `host:port` (an entry with a port
    /// matches that port only; `*.example.com` matches its subdomains). Nothing else is ever asked; a
    /// listed loopback entry (tests) may use plain http.
    #[arg(long, env = "CHATWEB_PUSH_HOSTS", default_value = DEFAULT_PUSH_HOSTS)]
    pub push_hosts: String,

    /// Milliseconds after a push to a person for a room during which more messages for them there are
    /// held and then sent as one ("and 4 more").
    #[arg(long, env = "CHATWEB_PUSH_COALESCE_MS", default_value_t = 30_000)]
    pub push_coalesce_ms: u64,

    /// Put the message's text (its first 100 characters) in pushes. `false` sends only who wrote where
    /// ("New message from ada in design"): push services (Google, Mozilla, Apple, Microsoft) carry the
    /// payload encrypted, but a lock screen shows what the notification says.
    #[arg(long, env = "CHATWEB_PUSH_PREVIEW", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub push_preview: bool,

    /// Seconds a push service keeps a push for a browser that is offline (the `TTL` header).
    #[arg(long, env = "CHATWEB_PUSH_TTL_SECS", default_value_t = 86_400)]
    pub push_ttl_secs: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            vapid_subject: "mailto:admin@localhost".into(),
            push_hosts: DEFAULT_PUSH_HOSTS.into(),
            push_coalesce_ms: 30_000,
            push_preview: true,
            push_ttl_secs: 86_400,
        }
    }
}

impl PushSettings {
    /// The coalescing window.
    pub fn coalesce(&self) -> Duration {
        Duration::from_millis(self.push_coalesce_ms.max(1))
    }
}

fn parse_subject(text: &str) -> Result<String, String> {
    let ok = text
        .strip_prefix("mailto:")
        .is_some_and(|rest| rest.contains('@'))
        || text
            .strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(text.to_owned())
    } else {
        Err("a mailto: address or an https: URL".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_contacts_and_default_hosts_parse() {
        assert!(parse_subject("mailto:ops@example.com").is_ok());
        assert!(parse_subject("https://example.com/contact").is_ok());
        assert!(parse_subject("ops@example.com").is_err());
        assert!(parse_subject("http://example.com").is_err());
        let hosts = crate::outbound::parse_hosts(DEFAULT_PUSH_HOSTS).expect("hosts");
        assert_eq!(hosts.len(), 4);
    }
}
