//! A write's bound, armed only when the write has to wait. Most writes to a chat socket finish on their
//! first poll (the frames fit in the kernel's send buffer); `tokio::time::timeout` still reads the clock
//! and clones the runtime's handle (an atomic count shared by every connection of the node) for each one,
//! about 3% of the node's CPU in a big room (issue 22's profile). Here the clock is read and the timer made
//! only after a first poll that did not finish: the bound then runs from the first wait, which is what it
//! bounds (the peer's taking of the bytes, not the node's own work before it). The timer is boxed: it
//! exists only while a write waits, and the bound sits in every connection's task (issue 22 counts bytes
//! per idle connection), where an unboxed `Sleep` took 112 bytes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

/// The bound ran out before the future finished.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Elapsed;

pin_project! {
    /// `future`, bounded by `bound` from its first poll that had to wait. A struct, not an `async fn`:
    /// it lives inside every connection's task, and an `async fn` would hold `future` twice (its argument
    /// and its pinned local).
    pub(super) struct Within<F> {
        #[pin]
        future: F,
        timer: Option<Pin<Box<Sleep>>>,
        bound: Duration,
    }
}

/// Runs `future` to its end, or for at most `bound` after its first poll that had to wait.
pub(super) fn within<F: Future>(bound: Duration, future: F) -> Within<F> {
    Within {
        future,
        timer: None,
        bound,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let bound = *this.bound;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(bound)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_future_is_answered_without_a_timer() {
        // A runtime without its time driver panics at the making of any timer: none is made here.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime without a timer");
        let answer = runtime.block_on(within(Duration::ZERO, async { 7 }));
        assert_eq!(answer, Ok(7));
    }

    #[test]
    #[should_panic(expected = "timers are disabled")]
    fn a_future_that_waits_gets_a_timer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime without a timer");
        let _ = runtime.block_on(within(Duration::ZERO, tokio::task::yield_now()));
    }

    #[tokio::test]
    async fn a_future_that_never_finishes_is_stopped_at_its_bound() {
        let bound = Duration::from_millis(20);
        let started = tokio::time::Instant::now();
        let never = within(bound, std::future::pending::<()>()).await;
        assert_eq!(never, Err(Elapsed));
        assert!(started.elapsed() >= bound);
    }

    #[tokio::test]
    async fn a_future_that_waits_within_its_bound_finishes() {
        let waits_once = async {
            tokio::task::yield_now().await;
            "written"
        };
        assert_eq!(
            within(Duration::from_secs(60), waits_once).await,
            Ok("written")
        );
    }
}
