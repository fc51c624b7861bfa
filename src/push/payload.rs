//! What a push says: JSON `{"room", "id", "user", "text", "url", "more"}`, with `text` at most
//! [`TEXT_CHARS`] characters and `url` the room opened at the message (`/chat/<room>/?at=<id>`). A push
//! that stands for several messages names the newest and says how many more (`more`, and "(and 4 more)"
//! in the text). Without previews (`--push-preview=false`) the text only says who wrote where.

use serde::Serialize;

use crate::domain::RoomName;

/// A committed message that may be pushed.
#[derive(Clone, Debug)]
pub struct Job {
    /// Its room.
    pub room: RoomName,
    /// Its id.
    pub id: u64,
    /// Its author.
    pub author: String,
    /// The author is a guest.
    pub guest: bool,
    /// Its text, cut to what a push shows.
    pub text: String,
    /// The accounts it mentions.
    pub mentions: Vec<String>,
}

/// Most characters of text in a push.
pub const TEXT_CHARS: usize = 100;

/// A push's content.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    /// The room.
    pub room: &'a str,
    /// The (newest) message's id.
    pub id: u64,
    /// Its author.
    pub user: &'a str,
    /// What the notification says.
    pub text: String,
    /// Where a click goes.
    pub url: String,
    /// Messages held before it in the window, now sent with it.
    pub more: u32,
}

impl<'a> Payload<'a> {
    /// The push for `job`, standing for `more` earlier messages too.
    pub fn of(job: &'a Job, more: u32, preview: bool) -> Self {
        let room = job.room.as_str();
        let suffix = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        let body = if preview {
            job.text.clone()
        } else {
            format!("New message from {} in {room}", job.author)
        };
        let room_for_text = TEXT_CHARS.saturating_sub(suffix.chars().count());
        Self {
            room,
            id: job.id,
            user: &job.author,
            text: format!("{}{suffix}", cut(&body, room_for_text)),
            url: format!("/chat/{room}/?at={}", job.id),
            more,
        }
    }

    /// The JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        #[allow(clippy::expect_used)]
        serde_json::to_vec(self).expect("a payload serialises")
    }
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoomName;

    fn job(text: &str) -> Job {
        Job {
            room: RoomName::parse("design").expect("room"),
            id: 42,
            author: "ada".into(),
            guest: false,
            text: cut(text, TEXT_CHARS),
            mentions: vec!["bob".into()],
        }
    }

    #[test]
    fn text_is_cut_and_counts_what_it_stands_for() {
        let long = "é".repeat(300);
        let one = job(&long);
        let payload = Payload::of(&one, 0, true);
        assert_eq!(payload.text.chars().count(), TEXT_CHARS);
        assert!(payload.text.ends_with('…'));
        assert_eq!(payload.url, "/chat/design/?at=42");
        let many = Payload::of(&one, 4, true);
        assert_eq!(many.text.chars().count(), TEXT_CHARS);
        assert!(many.text.ends_with(" (and 4 more)"));
        let quiet = job("the secret plan");
        let hidden = Payload::of(&quiet, 0, false);
        assert_eq!(hidden.text, "New message from ada in design");
        let json: serde_json::Value = serde_json::from_slice(&hidden.encode()).expect("json");
        assert_eq!(json["room"], "design");
        assert_eq!(json["id"], 42);
        assert_eq!(json["user"], "ada");
        assert!(!json.to_string().contains("secret"));
    }
}
