//! Which rule holds for a room, and the cutoff it gives: the room's own rule from the admin wins over
//! the server's `--retention-days`. Pure, so its edge cases are unit tests.

/// Milliseconds in a day.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a room keeps its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing is ever removed.
    Everything,
    /// Rows older than this many days are removed.
    Days(u32),
}

impl Keep {
    /// The server's rule: `--retention-days`, unset keeps everything.
    pub fn server(days: Option<u32>) -> Self {
        match days {
            Some(days) if days > 0 => Self::Days(days),
            _ => Self::Everything,
        }
    }

    /// The rule of a room whose own setting is `room` (`None`: the server's; `Some(0)`: keep everything;
    /// `Some(n)`: `n` days), on a server whose rule is `self`.
    pub fn for_room(self, room: Option<u32>) -> Self {
        match room {
            None => self,
            Some(0) => Self::Everything,
            Some(days) => Self::Days(days),
        }
    }

    /// Rows written before this time (ms since the epoch) are removed at `now_ms`; `None` keeps all.
    pub fn cutoff(self, now_ms: i64) -> Option<i64> {
        match self {
            Self::Everything => None,
            Self::Days(days) => Some(now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_setting_wins_over_the_server_and_zero_keeps_everything() {
        let server = Keep::server(Some(30));
        assert_eq!(server.for_room(None), Keep::Days(30));
        assert_eq!(server.for_room(Some(7)), Keep::Days(7));
        assert_eq!(server.for_room(Some(0)), Keep::Everything);
        let unset = Keep::server(None);
        assert_eq!(unset.for_room(None), Keep::Everything);
        assert_eq!(unset.for_room(Some(2)), Keep::Days(2));
        assert_eq!(Keep::server(Some(0)), Keep::Everything);
    }

    #[test]
    fn the_cutoff_is_that_many_days_before_now_and_never_overflows() {
        let now = 100 * DAY_MS;
        assert_eq!(Keep::Days(1).cutoff(now), Some(99 * DAY_MS));
        assert_eq!(Keep::Everything.cutoff(now), None);
        assert!(Keep::Days(u32::MAX).cutoff(i64::MIN).is_some());
    }
}
