//! Tracing set-up: human-readable logs on stdout, filtered by `--log`/`BERTH_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a bad filter is refused in one line.
pub fn init(filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| format!("invalid --log filter '{filter}': {e} (see 'berth --help')"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}
