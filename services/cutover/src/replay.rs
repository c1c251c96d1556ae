//! `cutover replay`: recorded SQS message bodies, one per line, through the same parser and
//! correlator as `serve`, offline; a line `{"cutover.observation": …}` is a reconciler answer as
//! `serve` journals it, replayed as such. Every decided action goes to stdout as one JSON line;
//! rejected lines and a closing summary go to stderr. The clock is the event time, so the
//! same input gives byte-identical output.

use std::io::{self, BufRead, Write};

use cutover_correlator::{Correlator, Input, Observation};
use cutover_events::inbound::MAX_BODY_BYTES;
use cutover_events::{Timestamp, parse_body_at};

use crate::config::IntakeConfig;

/// How a journaled observation line starts.
const OBSERVATION_PREFIX: &str = "{\"cutover.observation\"";

/// A journaled observation, or why it is not one.
fn observation(body: &str) -> Result<Observation, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let inner = v.get(crate::driver::OBSERVATION_KEY).cloned().unwrap_or_default();
    serde_json::from_value(inner).map_err(|e| format!("not a reconciler observation: {e}"))
}

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
    mut input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut raw = Vec::with_capacity(4096);
    let mut encoded = Vec::with_capacity(4096);
    // Replay's clock is the event time: observed_at is the latest event time read so far.
    let now = Timestamp(i64::MIN);
    while let Some(length) = read_line(&mut input, &mut raw, MAX_BODY_BYTES)? {
        summary.lines += 1;
        if length > MAX_BODY_BYTES {
            summary.rejected += 1;
            writeln!(err, "line {}: message of more than {MAX_BODY_BYTES} bytes exceeds the limit", summary.lines)?;
            continue;
        }
        // A UTF-8 byte-order mark (an editor's) is not part of the first message.
        let bytes = if summary.lines == 1 { raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw) } else { &raw[..] };
        let line = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                summary.rejected += 1;
                writeln!(err, "line {}: not UTF-8: {e}", summary.lines)?;
                continue;
            }
        };
        let body = line.trim();
        if body.is_empty() {
            continue;
        }
        // A journaled reconciler answer (`{"cutover.observation": …}`, as `serve` journals it):
        // replayed like the event it stands for, so a journal's decisions can be reproduced.
        let input = if body.starts_with(OBSERVATION_PREFIX) {
            observation(body).map(Input::Observed)
        } else {
            parse_body_at(body, Timestamp::wall_clock())
                .map_err(|m| m.to_string())
                .and_then(|m| intake.admit(&m).map(|()| m))
                .map(|m| Input::Message(Box::new(m)))
        };
        match input {
            Err(reason) => {
                summary.rejected += 1;
                writeln!(err, "line {}: {reason}", summary.lines)?;
            }
            Ok(input) => {
                for action in correlator.handle(now, input) {
                    summary.actions += 1;
                    encoded.clear();
                    serde_json::to_writer(&mut encoded, &action).map_err(io::Error::other)?;
                    encoded.push(b'\n');
                    match out.write_all(&encoded) {
                        Ok(()) => {}
                        // `| head`: the reader has what it wanted.
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(finish(summary, &correlator)),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    Ok(finish(summary, &correlator))
}

/// Reads one line (without its `\n`) into `buf`, keeping at most `limit + 1` bytes: the rest
/// of a longer line is skipped, not held, so memory does not follow the longest line. Returns
/// the line's full length, or `None` at the end of the input.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<Option<usize>> {
    buf.clear();
    let mut length = 0usize;
    let mut any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(length));
        }
        any = true;
        let (part, newline) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let room = (limit + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&part[..part.len().min(room)]);
        length = length.saturating_add(part.len());
        let used = part.len() + usize::from(newline);
        input.consume(used);
        if newline {
            return Ok(Some(length));
        }
    }
}

fn finish(mut summary: Summary, correlator: &Correlator) -> Summary {
    let stats = correlator.stats();
    summary.accepted = stats.accepted;
    summary.ignored = stats.ignored;
    summary.duplicates = stats.duplicates;
    summary.deployments = stats.deployments;
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_measured_but_not_held() {
        let text = format!("short\n{}\nlast", "x".repeat(10_000));
        let mut input = io::BufReader::with_capacity(64, text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf, 100).unwrap(), Some(5));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut input, &mut buf, 100).unwrap(), Some(10_000));
        assert_eq!(buf.len(), 101, "only the limit and one byte are kept");
        assert_eq!(read_line(&mut input, &mut buf, 100).unwrap(), Some(4));
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut input, &mut buf, 100).unwrap(), None);
    }
}
