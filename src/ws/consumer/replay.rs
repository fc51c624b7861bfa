//! Catching up from the store one page per turn of the connection's loop. A resume, a gap in the live
//! stream or a lagged receiver starts a catch-up; the loop then reads one page of `PAGE` messages at a time
//! and, between pages, answers the client's sends, reads its frames and keeps its keepalive, so a long
//! replay in a busy room never holds the sender's own acks or pongs behind it (issue 10, defect 10). While
//! it runs the live stream is not read: its events wait in the room's ring (or the receiver lags and
//! catches up again), and the cursor skips those the store already delivered.
//!
//! Retention may have removed the start of what a client asks for (a resume from before the cut, or a slow
//! reader whose next ids were removed meanwhile): the store then starts at the first id still kept. A
//! `chatweb.v2` client hears `{"type":"truncated","first":N}` before the kept messages; a plain Channels
//! client just gets what is kept. Nothing else leaves a hole in a room's ids, so a page whose first id
//! does not follow the cursor is such a cut.

use axum::extract::ws::Message;

use super::{Consumer, End, PAGE};
use crate::protocol::{ServerFrame, message_frame};
use crate::stats::Stats;
use crate::ws::cursor::Step;

/// A catch-up in progress.
pub(super) struct CatchUp {
    /// Frames are history (a resume) rather than live (a gap).
    history: bool,
    /// Send the room's presence snapshot once done (a `chatweb.v2` client's first replay).
    presence: bool,
    /// The live event that showed the gap: committed before it was published, so the store has it.
    awaited: Option<u64>,
}

impl Consumer {
    /// Reads the store after the cursor from now on, a page per turn; `awaited` is the live event that
    /// showed a gap. A catch-up already running is replaced (keeping its presence snapshot to send).
    pub(super) fn begin_catch_up(&mut self, history: bool, awaited: Option<u64>) {
        let presence = self.catching_up.as_ref().is_some_and(|c| c.presence);
        self.catching_up = Some(Box::new(CatchUp {
            history,
            presence,
            awaited,
        }));
    }

    /// Has the presence snapshot sent when the running catch-up ends; false when none runs.
    pub(super) fn presence_after_catch_up(&mut self) -> bool {
        match &mut self.catching_up {
            Some(catch_up) => {
                catch_up.presence = true;
                true
            }
            None => false,
        }
    }

    /// Delivers the next page of the running catch-up; a short page ends it.
    pub(super) async fn catch_up_page(&mut self) -> Result<(), End> {
        let Some(history) = self.catching_up.as_ref().map(|c| c.history) else {
            return Ok(());
        };
        // A long replay must not hold up a stop.
        if self.state.shutdown.is_cancelled() {
            return Err(End::Shutdown);
        }
        let page = self
            .state
            .store
            .after(&self.room, self.cursor.last(), PAGE)
            .await
            .map_err(End::Store)?;
        if let Some(first) = page.first()
            && first.seq > self.cursor.last() + 1
        {
            self.skip_removed(first.seq).await?;
        }
        let mut shown = 0;
        for message in &page {
            if self.v2 || message.kind.plain() {
                self.feed(message_frame(self.room.as_str(), message, history))
                    .await?;
                shown += 1;
            }
            self.cursor.delivered(message.seq);
        }
        Stats::add(&self.state.stats.deliveries, shown);
        self.flush().await?;
        if page.len() < PAGE as usize {
            return self.catch_up_done().await;
        }
        Ok(())
    }

    /// Moves the cursor to just before `first`, the room's first kept id, when what it still owes begins
    /// before it; a `chatweb.v2` client hears of the cut first.
    pub(super) async fn skip_removed(&mut self, first: u64) -> Result<(), End> {
        if self.cursor.last().saturating_add(1) >= first {
            return Ok(());
        }
        if self.v2 {
            let room = self.room.as_str();
            self.feed(ServerFrame::Truncated { room, first }.encode())
                .await?;
        }
        self.cursor.skip_to(first);
        Ok(())
    }

    async fn catch_up_done(&mut self) -> Result<(), End> {
        let Some(done) = self.catching_up.take() else {
            return Ok(());
        };
        if let Some(seq) = done.awaited
            && self.cursor.step(seq) == Step::CatchUp
        {
            // Only possible with a misconfigured cluster: the store is the truth, a gap is never delivered.
            tracing::warn!(
                seq,
                last = self.cursor.last(),
                "dropping a live event the store does not have"
            );
        }
        if done.presence {
            let snapshot = self.state.presence.snapshot(&self.room);
            self.write(Message::Text(snapshot), true).await?;
        }
        Ok(())
    }
}
