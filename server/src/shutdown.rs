//! Turns SIGINT and SIGTERM into the one shutdown token every task watches.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Waits for SIGINT or SIGTERM (or the token being cancelled elsewhere), then
/// cancels the token.
pub async fn on_signal(token: CancellationToken) {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops Berth");
            let _ = tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = token.cancelled() => Ok(()),
            };
            token.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = token.cancelled() => {}
    }
    token.cancel();
}
