//! Cancellation through one helper. Every await of a run that must stop when the run is
//! cancelled is written `fut.or_cancel(&token).await`: the future's output, or
//! [`Cancelled`] as soon as the token is cancelled (at once when it already is), the
//! future then dropped (closing a model request, killing what a tool started). The
//! cancelled result converts into the run's ending, so `?` ends the run.
//!
//! Built on tokio-util's `CancellationToken::run_until_cancelled`.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// The awaited work was cut short by the run's cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// `.or_cancel(&token)` on any future (as codex-rs has it).
pub trait OrCancel: Future + Sized {
    /// This future's output, or `Err(Cancelled)` once `token` is cancelled.
    fn or_cancel(
        self,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<Self::Output, Cancelled>>;
}

impl<F: Future> OrCancel for F {
    async fn or_cancel(self, token: &CancellationToken) -> Result<Self::Output, Cancelled> {
        token.run_until_cancelled(self).await.ok_or(Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_output_or_cancelled_at_once() {
        let token = CancellationToken::new();
        assert_eq!(async { 7 }.or_cancel(&token).await, Ok(7));
        let pending = std::future::pending::<()>();
        let waiting = tokio::spawn({
            let token = token.clone();
            async move { pending.or_cancel(&token).await }
        });
        token.cancel();
        assert_eq!(waiting.await.unwrap(), Err(Cancelled));
        // Already cancelled: the future is not even polled.
        let polled = std::sync::atomic::AtomicBool::new(false);
        let probe = async {
            polled.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        assert_eq!(probe.or_cancel(&token).await, Err(Cancelled));
        assert!(!polled.load(std::sync::atomic::Ordering::SeqCst));
    }
}
