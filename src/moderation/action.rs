//! What staff can do to a room and the people in it, the bounds on each action, and why one can fail; and
//! why a send is held back. Plain values: the wire protocol (`crate::protocol`) encodes them.

use std::time::Duration;

use crate::storage::StoreError;

/// Longest mute, in seconds (a year).
pub const MAX_MUTE_SECS: u64 = 366 * 24 * 3600;
/// Longest timed ban, in seconds (a year); a ban without a time lasts until lifted.
pub const MAX_BAN_SECS: u64 = MAX_MUTE_SECS;
/// Longest slow-mode interval, in seconds (six hours).
pub const MAX_SLOW_MODE_SECS: u64 = 6 * 3600;
/// Longest name an action may name, in characters (an account name's limit).
pub const MAX_TARGET_CHARS: usize = 150;

/// A moderation action on one room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Refuse `user`'s messages (and edits) in the room for `seconds`.
    Mute {
        /// An account name or a guest's nickname.
        user: String,
        /// How long (1 to [`MAX_MUTE_SECS`]).
        seconds: u64,
    },
    /// Lift `user`'s mute.
    Unmute {
        /// An account name or a guest's nickname.
        user: String,
    },
    /// Close `user`'s sockets in the room with 4403 and refuse them there (403), for `seconds` or until
    /// lifted.
    Ban {
        /// An account name or a guest's nickname.
        user: String,
        /// How long (`None`: until lifted).
        seconds: Option<u64>,
    },
    /// Lift `user`'s ban.
    Unban {
        /// An account name or a guest's nickname.
        user: String,
    },
    /// Close `user`'s sockets in the room with 4408; they may come back at once.
    Kick {
        /// An account name or a guest's nickname.
        user: String,
    },
    /// One message per person every `seconds` (0: off); staff are exempt.
    SlowMode {
        /// The interval (0 to [`MAX_SLOW_MODE_SECS`]).
        seconds: u64,
    },
}

impl Action {
    /// Its name on the wire, in the log and in the audit (`room.<name>`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mute { .. } => "mute",
            Self::Unmute { .. } => "unmute",
            Self::Ban { .. } => "ban",
            Self::Unban { .. } => "unban",
            Self::Kick { .. } => "kick",
            Self::SlowMode { .. } => "slow_mode",
        }
    }

    /// The person it names, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Mute { user, .. }
            | Self::Unmute { user }
            | Self::Ban { user, .. }
            | Self::Unban { user }
            | Self::Kick { user } => Some(user),
            Self::SlowMode { .. } => None,
        }
    }

    /// Checks the bounds of its numbers and its name.
    pub fn validate(&self) -> Result<(), ModerationError> {
        match self {
            Self::Mute { seconds, .. } if !(1..=MAX_MUTE_SECS).contains(seconds) => Err(
                ModerationError::InvalidSeconds("a mute lasts 1 second to a year"),
            ),
            Self::Ban {
                seconds: Some(seconds),
                ..
            } if !(1..=MAX_BAN_SECS).contains(seconds) => Err(ModerationError::InvalidSeconds(
                "a timed ban lasts 1 second to a year (leave it out: until lifted)",
            )),
            Self::SlowMode { seconds } if *seconds > MAX_SLOW_MODE_SECS => Err(
                ModerationError::InvalidSeconds("slow mode is 0 (off) to 21600 seconds"),
            ),
            _ => match self.user() {
                Some(user) if user.trim().is_empty() || user.chars().count() > MAX_TARGET_CHARS => {
                    Err(ModerationError::InvalidUser(user.to_owned()))
                }
                _ => Ok(()),
            },
        }
    }
}

/// Why a send (or an edit) is not taken now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Muted in the room until `until_ms` (ms since the epoch).
    Muted {
        /// When the mute ends.
        until_ms: i64,
    },
    /// Banned from the room (the socket is about to close).
    Banned,
    /// Slow mode: the sender's next message may come after this long.
    SlowMode {
        /// How long to wait.
        retry_after: Duration,
    },
}

/// Where an action came from, for the audit row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A form of the admin.
    Admin,
    /// A staff client's socket command.
    Socket,
}

impl Via {
    /// As the audit row says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "via the admin",
            Self::Socket => "via a socket",
        }
    }
}

/// An action carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// The action's name.
    pub action: &'static str,
    /// The person it concerned (their account name, or the nickname), if any.
    pub user: Option<String>,
    /// Whether that person is a guest (a nickname).
    pub guest: bool,
    /// When it ends (mutes and timed bans), ms since the epoch.
    pub until_ms: Option<i64>,
    /// Its seconds (mutes, timed bans, slow mode).
    pub seconds: Option<u64>,
}

/// Why an action was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The actor is neither staff nor one of the room's owners or moderators.
    #[error("only staff and the room's owners and moderators may moderate it")]
    NotStaff,
    /// The name is neither an account's nor a usable nickname.
    #[error("{0:?} is neither a user nor a usable nickname")]
    InvalidUser(String),
    /// The person is staff (or, for a room moderator, one of the room's owners or moderators).
    #[error("{0} is staff or manages the room: they cannot be muted, banned or kicked by you")]
    StaffTarget(String),
    /// A number out of bounds.
    #[error("{0}")]
    InvalidSeconds(&'static str),
    /// Nothing to lift.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        let mute = |seconds| Action::Mute {
            user: "bob".into(),
            seconds,
        };
        assert!(mute(600).validate().is_ok());
        assert!(matches!(
            mute(0).validate(),
            Err(ModerationError::InvalidSeconds(_))
        ));
        assert!(mute(MAX_MUTE_SECS + 1).validate().is_err());
        let ban = |seconds| Action::Ban {
            user: "bob".into(),
            seconds,
        };
        assert!(ban(None).validate().is_ok());
        assert!(ban(Some(0)).validate().is_err());
        assert!(Action::SlowMode { seconds: 0 }.validate().is_ok());
        assert!(Action::SlowMode { seconds: 21_601 }.validate().is_err());
        let kick = |user: &str| Action::Kick { user: user.into() };
        assert!(matches!(
            kick(" ").validate(),
            Err(ModerationError::InvalidUser(_))
        ));
        assert!(kick(&"x".repeat(151)).validate().is_err());
    }
}
