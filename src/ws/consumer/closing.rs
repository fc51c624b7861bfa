//! Closing a connection: answer what the store still owes on shutdown (only what is known), then the
//! right close code.

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Consumer, End, Socket};
use crate::protocol::answers;
use crate::stats::Stats;

impl<S: Socket> Consumer<S> {
    /// Ends the connection according to `end`: on shutdown, answer what the store still owes this client
    /// (its outcome if the writer gives it within half the stop's bound, else "unknown": the draining
    /// writer may still store it) and send close 1001; on a store failure, say so and close 1011. `end`
    /// is taken whole: the boxed close holds it, not the connection's task (issue 22 counts its bytes).
    pub(super) async fn close(&mut self, end: End) {
        tracing::debug!(?end, "connection ending");
        let (code, reason) = match &end {
            End::Shutdown => {
                let deadline = Instant::now() + self.state.config.shutdown_timeout() / 2;
                // Every answer owed, in order; stop at the first write the peer cannot take.
                while let Some(answer) = self.answers.next_by(deadline).await {
                    if self.send_answer(answer).await.is_err() {
                        return;
                    }
                }
                (CloseCode::Away, "server shutting down")
            }
            End::Store(_) | End::Layer(_) => {
                match end {
                    End::Store(error) => tracing::warn!(
                        room = %self.room,
                        user = %self.identity.name(),
                        %error,
                        "closing: the store could not be read"
                    ),
                    End::Layer(reason) => tracing::warn!(
                        room = %self.room,
                        user = %self.identity.name(),
                        %reason,
                        "closing: the room stream failed"
                    ),
                    _ => {}
                }
                let frame = answers::unavailable();
                let _ = self.outbound.write_text(frame.into(), true).await;
                (CloseCode::Error, "temporarily unavailable")
            }
            End::Revoked(code) => {
                let reason = if *code == crate::accounts::revocation::CLOSE_DEACTIVATED {
                    "account deactivated"
                } else {
                    "signed out"
                };
                (CloseCode::from(*code), reason)
            }
            End::Moderated(code) => (
                CloseCode::from(*code),
                crate::moderation::close_reason(*code),
            ),
            End::Unresponsive => {
                Stats::add(&self.state.stats.keepalive_closes, 1);
                return;
            }
            End::Socket(error) => {
                tracing::debug!(%error, "socket failed");
                return;
            }
            End::PeerClosed => {
                // The WebSocket layer queued the reply to the peer's Close: send it.
                self.outbound.flush_briefly().await;
                return;
            }
        };
        self.outbound.close(code, reason).await;
    }
}
