//! `cutover replay`: recorded SQS message bodies, one per line, through the same parser and
//! correlator as `serve`, offline. Every decided action goes to stdout as one JSON line;
//! rejected lines and a closing summary go to stderr. The clock is the event time, so the
//! same input gives byte-identical output.

use std::io::{self, BufRead, Write};

use cutover_correlator::{Correlator, Input};
use cutover_events::{Timestamp, parse_body};

use crate::config::IntakeConfig;

/// What one replay saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub duplicates: u64,
    pub deployments: u64,
    pub actions: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "summary: lines={} accepted={} rejected={} ignored={} duplicates={} deployments={} actions={}",
            self.lines, self.accepted, self.rejected, self.ignored, self.duplicates, self.deployments, self.actions
        )
    }
}

/// Replays `input` into `out` (actions) and `err` (rejections). Stops early, without error,
/// when `out` is closed (`| head`).
pub fn run(
    correlator: Correlator,
    input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<Summary> {
    run_with(correlator, &IntakeConfig::default(), input, out, err)
}

/// [`run`], rejecting events from outside `intake`'s allow-list.
pub fn run_with(
    mut correlator: Correlator,
    intake: &IntakeConfig,
    input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut input = input;
    let mut raw = Vec::with_capacity(4096);
    let mut line = String::new();
    // Replay's clock is the event time: observed_at is the latest event time read so far.
    let now = Timestamp(i64::MIN);
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        summary.lines += 1;
        line.clear();
        match std::str::from_utf8(&raw) {
            Ok(s) => line.push_str(s),
            Err(e) => {
                summary.rejected += 1;
                writeln!(err, "line {}: not UTF-8: {e}", summary.lines)?;
                continue;
            }
        }
        let body = line.trim();
        if body.is_empty() {
            continue;
        }
        match parse_body(body).map_err(|m| m.0).and_then(|m| intake.admit(&m).map(|()| m)) {
            Err(reason) => {
                summary.rejected += 1;
                writeln!(err, "line {}: {reason}", summary.lines)?;
            }
            Ok(message) => {
                for action in correlator.handle(now, Input::Message(Box::new(message))) {
                    summary.actions += 1;
                    let written = serde_json::to_writer(&mut *out, &action)
                        .map_err(io::Error::other)
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(e) = written {
                        if e.kind() == io::ErrorKind::BrokenPipe {
                            return Ok(finish(summary, &correlator));
                        }
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(finish(summary, &correlator))
}

fn finish(mut summary: Summary, correlator: &Correlator) -> Summary {
    let stats = correlator.stats();
    summary.accepted = stats.accepted;
    summary.ignored = stats.ignored;
    summary.duplicates = stats.duplicates;
    summary.deployments = stats.deployments;
    summary
}
