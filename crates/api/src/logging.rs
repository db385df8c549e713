//! Structured logs: human-readable (`pretty`) or one JSON object per line (`json`), filtered by
//! `log.level`. Logs go to stderr; stdout is kept for what the CLI prints for people and
//! scripts (URLs, tokens shown once, ready lines).

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber (once per process; later calls are ignored).
pub fn init(config: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
