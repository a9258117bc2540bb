//! tracing setup: human text or JSON lines on stderr, verbosity from `-v` or `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` wins over `-v` so an operator can target one module.
///
/// Default level is `warn`: the progress display already tells the story of a run, and logs at
/// `info` would repeat it line for line.
pub fn init_logging(format: LogFormat, verbosity: u8) {
    let default = default_filter(verbosity);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(StderrWriter)
        .with_target(verbosity >= 2);
    let result = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // A second init (tests calling the CLI entry twice in one process) keeps the first subscriber.
    let _ = result;
}

/// The libraries cutover speaks through, whose own logs (the SDK's credential chain, connection
/// pools, TLS) are for `-v` and more: without it they would print, say, a whole IMDS error dump
/// before cutover's own one-sentence error.
/// (Directive targets match as prefixes: `aws_sdk` covers every service crate.)
const LIBRARIES: &[&str] = &[
    "aws_config",
    "aws_runtime",
    "aws_types",
    "aws_credential_types",
    "aws_sdk",
    "aws_smithy",
    "aws_sigv4",
    "hyper",
    "h2",
    "rustls",
    "kube_client",
];

/// The filter for `-v` repeated `verbosity` times: cutover at warn, info, debug, trace; the
/// libraries silent by default, at warn with `-v`, and like cutover from `-vv` on.
fn default_filter(verbosity: u8) -> String {
    let (ours, libraries) = match verbosity {
        0 => ("warn", "off"),
        1 => ("info", "warn"),
        2 => ("debug", "debug"),
        _ => ("trace", "trace"),
    };
    let mut filter = ours.to_string();
    for l in LIBRARIES {
        filter.push_str(&format!(",{l}={libraries}"));
    }
    filter
}

/// Writes log lines to stderr, above the progress bars when a progress display is active.
#[derive(Clone, Copy)]
pub struct StderrWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrWriter {
    type Writer = StderrWriter;

    fn make_writer(&'a self) -> Self::Writer {
        StderrWriter
    }
}

impl std::io::Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // tracing-subscriber formats a whole event into one buffer, so one call is one line.
        super::progress::write_stderr(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_logs_need_verbose() {
        assert!(default_filter(0).starts_with("warn,") && default_filter(0).contains("aws_config=off"));
        assert!(default_filter(1).contains("aws_config=warn"));
        assert!(default_filter(2).contains("aws_config=debug"));
        for v in 0..4 {
            EnvFilter::try_new(default_filter(v)).expect("a valid filter");
        }
    }
}
