//! `ClientIdOwner`: whose `client_id`s a send's belong to (shared/DESIGN.md, invariant 8: one person's
//! `client_id` can never swallow another's message). A repeated `client_id` is recognised per room and
//! owner, so bob's "x" is never taken for ann's. The store keeps it beside the `client_id`, in
//! `messages.sender_key`, as text: `u:<account id>` for a signed-in user, `g:<guest id>` for a guest (the
//! random id of the `chatweb_guest` cookie, or one made for a connection that brought none), `import` for
//! what `chatweb import` and `chatweb import-django` write. A connection builds its owner once, at the
//! handshake; each send shares it (a reference count, no text built per message).

use std::fmt;
use std::sync::Arc;

/// Whose `client_id`s these are. Cheap to clone (shared string).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdOwner(Arc<str>);

impl ClientIdOwner {
    /// The signed-in user with account `id`, on every connection and node.
    pub fn user(id: i64) -> Self {
        Self(Arc::from(format!("u:{id}")))
    }

    /// The guest whose browser holds guest id `guest_id` (see `accounts::guest_id`).
    pub fn guest(guest_id: &str) -> Self {
        Self(Arc::from(format!("g:{guest_id}")))
    }

    /// The imports (`chatweb import`, `chatweb import-django`): their `client_id`s name the imported row,
    /// so a second run of the same import recognises what the first one stored.
    pub fn import() -> Self {
        Self(Arc::from(IMPORT))
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The owner of every imported row's `client_id`.
pub const IMPORT: &str = "import";

impl fmt::Display for ClientIdOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_guests_and_imports_never_share_a_key() {
        assert_eq!(ClientIdOwner::user(7).as_str(), "u:7");
        assert_eq!(ClientIdOwner::guest("ab12").as_str(), "g:ab12");
        assert_eq!(ClientIdOwner::import().as_str(), "import");
        assert_ne!(ClientIdOwner::user(7), ClientIdOwner::user(8));
        assert_ne!(ClientIdOwner::guest("7"), ClientIdOwner::user(7));
    }
}
