//! What an import tells the person running it: one line on stderr per conflict or skipped row (with the
//! Django table and id) and per name whose messages are imported without an account, a progress bar over
//! the messages while stderr is a terminal, and the summary per table at the end (on stdout, for
//! scripts).

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Nothing was written.
    pub dry_run: bool,
    /// Users imported (or, in a dry run, to import).
    pub users_imported: u64,
    /// Users whose name chatweb already has (in any case): skipped, never overwritten.
    pub users_conflicts: u64,
    /// Users chatweb's rules refuse (the name, a NUL, an unreadable date).
    pub users_skipped: u64,
    /// Messages imported (or to import).
    pub messages_imported: u64,
    /// Messages an earlier run imported already.
    pub messages_conflicts: u64,
    /// Malformed messages: a room name chatweb refuses, a NUL, an over-long or empty text, ...
    pub messages_skipped: u64,
    /// Of the messages imported, those stored without an account because their author's name belongs to
    /// a chatweb account that is not the Django user's, by that name.
    pub messages_unlinked: BTreeMap<String, u64>,
    /// Rooms that got messages.
    pub rooms_imported: u64,
    /// Of those, rooms that did not exist before.
    pub rooms_new: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "to import"
        } else {
            "imported"
        };
        if self.dry_run {
            writeln!(f, "Dry run: nothing was changed.")?;
        }
        writeln!(
            f,
            "users: {} {verb}, {} conflicts (name taken), {} skipped",
            self.users_imported, self.users_conflicts, self.users_skipped
        )?;
        writeln!(
            f,
            "messages: {} {verb}, {} conflicts (already imported), {} skipped",
            self.messages_imported, self.messages_conflicts, self.messages_skipped
        )?;
        if !self.messages_unlinked.is_empty() {
            let total: u64 = self.messages_unlinked.values().sum();
            let names: Vec<String> = self
                .messages_unlinked
                .iter()
                .map(|(name, n)| format!("{name:?} ({n})"))
                .collect();
            writeln!(
                f,
                "unlinked: {total} {verb} without an account (the name is another chatweb \
                 account's): {}",
                names.join(", ")
            )?;
        }
        write!(
            f,
            "rooms: {} {verb}, {} new",
            self.rooms_imported, self.rooms_new
        )
    }
}

/// Reports of one run: the counts, the lines about single rows, the progress bar.
pub struct Reporter {
    /// The counts so far.
    pub summary: Summary,
    bar: ProgressBar,
}

impl Reporter {
    /// A reporter for a run (a dry run when `dry_run`).
    pub fn new(dry_run: bool) -> Self {
        Self {
            summary: Summary {
                dry_run,
                ..Summary::default()
            },
            bar: ProgressBar::hidden(),
        }
    }

    /// Shows a bar over `total` messages, when stderr is a terminal.
    pub fn start_messages(&mut self, total: u64) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "messages {elapsed:>4} [{wide_bar}] {human_pos}/{human_len} {per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        self.bar = bar;
    }

    /// One more message row read.
    pub fn tick(&self) {
        self.bar.inc(1);
    }

    /// Ends the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A row of `table` with Django id `id` was skipped because of `why`.
    pub fn skipped(&mut self, table: Table, id: i64, why: &str) {
        match table {
            Table::Users => self.summary.users_skipped += 1,
            Table::Messages => self.summary.messages_skipped += 1,
        }
        self.line(&format!("skipped: {table} id {id}: {why}"));
    }

    /// A user with Django id `id` was not imported: chatweb has `name` already.
    pub fn conflict(&mut self, id: i64, name: &str, holder: &str) {
        self.summary.users_conflicts += 1;
        self.line(&format!(
            "conflict: {} id {id}: the username {name:?} is taken in chatweb (by {holder:?}); \
             skipped, not overwritten",
            Table::Users
        ));
    }

    /// A message by `name` is imported without an account: a chatweb account has the name, and it is not
    /// the Django user's. Told once per name.
    pub fn unlinked(&mut self, name: &str) {
        let count = self
            .summary
            .messages_unlinked
            .entry(name.to_owned())
            .or_default();
        *count += 1;
        if *count == 1 {
            self.line(&format!(
                "unlinked: {}: messages by {name:?} are imported without an account: the chatweb \
                 account of that name is not the Django user's, and gets no right to edit them",
                Table::Messages
            ));
        }
    }

    fn line(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }
}

/// The Django tables read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `auth_user`.
    Users,
    /// `chatapp_message`.
    Messages,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Users => "auth_user",
            Self::Messages => "chatapp_message",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_table_and_says_when_nothing_changed() {
        let mut reporter = Reporter::new(true);
        reporter.skipped(Table::Messages, 7, "the room name is not valid");
        reporter.conflict(3, "ada", "Ada");
        reporter.summary.messages_imported = 2;
        let text = reporter.summary.to_string();
        assert_eq!(
            text,
            "Dry run: nothing was changed.\n\
             users: 0 to import, 1 conflicts (name taken), 0 skipped\n\
             messages: 2 to import, 0 conflicts (already imported), 1 skipped\n\
             rooms: 0 to import, 0 new"
        );
        reporter.unlinked("carol");
        reporter.unlinked("Ada");
        reporter.unlinked("carol");
        assert!(
            reporter.summary.to_string().contains(
                "skipped\nunlinked: 3 to import without an account (the name is another chatweb \
                 account's): \"Ada\" (1), \"carol\" (2)\nrooms:"
            ),
            "{}",
            reporter.summary
        );
    }
}
