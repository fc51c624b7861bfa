//! Mentions: whom a message's `@name`, `@here` and `@room` reach, resolved by the server when the message
//! is sent (docs/PROTOCOL.md, "Mentions"). A name mentions the account of that name (any case) only if it
//! may read the room, by the one access check; `@here` reaches the signed-in people present, `@room` the
//! room's members (in a public room: the people present and those who hold a role there), both only for
//! the room's moderators and staff once the room is bigger than `--mention-all-max`. The author is never
//! mentioned by their own message. A text without `@` costs nothing here.

use std::collections::BTreeMap;

use super::{Access, Grant};
use crate::domain::{RoomKind, RoomName, Username};
use crate::storage::{Mentions, StoreError};

/// Most distinct `@name`s of one message looked up (each is a query or two).
pub const MAX_NAMED: usize = 20;
/// Most accounts one message mentions.
pub const MAX_MENTIONS: usize = 1000;

/// The message being mentioned from, and who sends it.
pub struct Mentioner<'a> {
    /// The room.
    pub room: &'a RoomName,
    /// The author's account (never mentioned by their own message).
    pub author_id: Option<i64>,
    /// Whether the author moderates the room (owners, moderators, staff).
    pub privileged: bool,
    /// The signed-in people present in the room (for `@here`), and how many people are present in all.
    pub here: (Vec<String>, usize),
    /// `--mention-all-max`.
    pub all_max: usize,
}

/// What a text asks for: the names after `@` (at most [`MAX_NAMED`], as typed), and `@here` / `@room`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Asked<'t> {
    /// The names, as typed.
    pub names: Vec<&'t str>,
    /// `@here` was written.
    pub here: bool,
    /// `@room` was written.
    pub room: bool,
}

/// A character of an account name after `@` (`@` itself aside, so `a@b` is not a mention of `b`).
fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '+' | '-' | '_')
}

/// Finds the mentions `text` asks for. An `@` counts at the start or after a character that cannot be
/// part of a name (so an e-mail address mentions nobody); trailing `.`, `+` and `-` end a sentence, not
/// the name.
pub fn asked(text: &str) -> Asked<'_> {
    let mut asked = Asked::default();
    if !text.contains('@') {
        return asked;
    }
    let mut previous = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && !previous.is_some_and(|p: char| name_char(p) || p == '@');
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let end = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches(['.', '+', '-']);
        match name.to_ascii_lowercase().as_str() {
            "" => {}
            "here" => asked.here = true,
            "room" | "channel" | "all" => asked.room = true,
            _ if asked.names.len() < MAX_NAMED
                && !asked.names.iter().any(|n| n.eq_ignore_ascii_case(name)) =>
            {
                asked.names.push(name);
            }
            _ => {}
        }
    }
    asked
}

impl Access {
    /// Resolves what `text` asks for into the accounts it mentions.
    pub async fn mentions(&self, from: Mentioner<'_>, text: &str) -> Result<Mentions, StoreError> {
        let asked = asked(text);
        let mut found: BTreeMap<i64, String> = BTreeMap::new();
        let db = self.store.db();
        for typed in &asked.names {
            let Some(name) = Username::parse(typed) else {
                continue;
            };
            let Some(user) = db.user_named(typed, &name).await? else {
                continue;
            };
            if user.is_active && self.reads(from.room, user.id, user.is_staff).await? {
                found.insert(user.id, user.username);
            }
        }
        if asked.here || asked.room {
            let members = db.members(from.room.as_str()).await?;
            let kind = match db.room_access(from.room.as_str(), None).await? {
                Some(row) => row.kind,
                None => RoomKind::Public,
            };
            let size = match kind {
                RoomKind::Public => from.here.1,
                _ => members.len(),
            };
            if from.privileged || size <= from.all_max {
                let (here, _) = &from.here;
                for (id, name) in db.accounts_named(here, MAX_MENTIONS).await? {
                    found.insert(id, name);
                }
                if asked.room {
                    for member in members.into_iter().take(MAX_MENTIONS) {
                        found.insert(member.user_id, member.username);
                    }
                }
            }
        }
        if let Some(author) = from.author_id {
            found.remove(&author);
        }
        let (ids, names): (Vec<i64>, Vec<String>) = found.into_iter().take(MAX_MENTIONS).unzip();
        Ok(Mentions {
            ids,
            names: names.join(" "),
        })
    }

    /// Whether account `user_id` may read `room` now (the one check, as [`Access::grant`] makes it).
    async fn reads(&self, room: &RoomName, user_id: i64, staff: bool) -> Result<bool, StoreError> {
        let row = self
            .store
            .db()
            .room_access(room.as_str(), Some(user_id))
            .await?;
        let (kind, role) = row.map_or((RoomKind::Public, None), |row| (row.kind, row.role));
        let grant = Grant {
            kind,
            role,
            staff,
            banned: self.moderation.user_banned(room, user_id, staff),
            topic: String::new(),
            has_members: false,
        };
        Ok(grant.may_read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_here_and_room_are_found_where_a_name_can_start() {
        let found = asked("@ada, hi @Bob. and @Here; mail a@b.c or @room @ada @@x");
        assert_eq!(found.names, ["ada", "Bob"]);
        assert!(found.here && found.room);
        assert_eq!(asked("no mention here"), Asked::default());
        assert_eq!(asked("(@ada.lovelace)").names, ["ada.lovelace"]);
        assert_eq!(asked("a@ada").names, Vec::<&str>::new());
    }

    #[test]
    fn a_message_asks_for_a_bounded_number_of_names() {
        let text: String = (0..100).map(|i| format!("@u{i} ")).collect();
        assert_eq!(asked(&text).names.len(), MAX_NAMED);
    }
}
