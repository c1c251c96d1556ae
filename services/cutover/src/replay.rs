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
    correlator: Correlator,
    intake: &IntakeConfig,
    mut input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<Summary> {
    let mut replay = Replay { correlator, intake, summary: Summary::default(), encoded: Vec::with_capacity(4096) };
    let mut raw = Vec::with_capacity(4096);
    loop {
        // A line wholly in the reader's buffer is read where it lies; one that runs past the
        // buffer (or past the limit) is gathered into `raw` first.
        let buffered = fill(&mut input)?;
        if buffered.is_empty() {
            break;
        }
        let flow = match memchr::memchr(b'\n', buffered) {
            Some(end) if end <= MAX_BODY_BYTES => {
                let flow = replay.line(&buffered[..end], end, out, err)?;
                input.consume(end + 1);
                flow
            }
            _ => match read_line(&mut input, &mut raw, MAX_BODY_BYTES)? {
                Some(length) => replay.line(&raw, length, out, err)?,
                None => break,
            },
        };
        if flow == Flow::Closed {
            break;
        }
    }
    Ok(finish(replay.summary, &replay.correlator))
}

/// Whether replay goes on after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    /// `out` is closed (`| head`): the reader has what it wanted.
    Closed,
}

/// What a replay carries from line to line.
struct Replay<'a> {
    correlator: Correlator,
    intake: &'a IntakeConfig,
    summary: Summary,
    /// The encoded action, its buffer kept across lines.
    encoded: Vec<u8>,
}

impl Replay<'_> {
    /// One line, `raw` (without its `\n`, at most the limit and a byte of it), `length` bytes
    /// long in the input.
    fn line(&mut self, raw: &[u8], length: usize, out: &mut impl Write, err: &mut impl Write) -> io::Result<Flow> {
        let summary = &mut self.summary;
        summary.lines += 1;
        if length > MAX_BODY_BYTES {
            summary.rejected += 1;
            writeln!(err, "line {}: message of more than {MAX_BODY_BYTES} bytes exceeds the limit", summary.lines)?;
            return Ok(Flow::Next);
        }
        // A UTF-8 byte-order mark (an editor's) is not part of the first message.
        let bytes = if summary.lines == 1 { raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw) } else { raw };
        let line = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                summary.rejected += 1;
                writeln!(err, "line {}: not UTF-8: {e}", summary.lines)?;
                return Ok(Flow::Next);
            }
        };
        let body = line.trim();
        if body.is_empty() {
            return Ok(Flow::Next);
        }
        // A journaled reconciler answer (`{"cutover.observation": …}`, as `serve` journals it):
        // replayed like the event it stands for, so a journal's decisions can be reproduced.
        let input = if body.starts_with(OBSERVATION_PREFIX) {
            observation(body).map(Input::Observed)
        } else {
            parse_body_at(body, Timestamp::wall_clock())
                .map_err(|m| m.to_string())
                .and_then(|m| self.intake.admit(&m).map(|()| m))
                .map(|m| Input::Message(Box::new(m)))
        };
        let input = match input {
            Ok(input) => input,
            Err(reason) => {
                summary.rejected += 1;
                writeln!(err, "line {}: {reason}", summary.lines)?;
                return Ok(Flow::Next);
            }
        };
        // Replay's clock is the event time: observed_at is the latest event time read so far.
        for action in self.correlator.handle(Timestamp(i64::MIN), input) {
            self.summary.actions += 1;
            self.encoded.clear();
            serde_json::to_writer(&mut self.encoded, &action).map_err(io::Error::other)?;
            self.encoded.push(b'\n');
            match out.write_all(&self.encoded) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Flow::Closed),
                Err(e) => return Err(e),
            }
        }
        Ok(Flow::Next)
    }
}

/// The reader's buffered bytes, filled when empty.
fn fill(input: &mut impl BufRead) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            // The end: not read again (a terminal would wait for a second end of input).
            Ok([]) => return Ok(&[]),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // Filled, so this reads nothing: it lends the buffer (a borrow returned from inside the
    // loop above would outlive its iteration).
    input.fill_buf()
}

/// Reads one line (without its `\n`) into `buf`, keeping at most `limit + 1` bytes: the rest
/// of a longer line is skipped, not held, so memory does not follow the longest line. Returns
/// the line's full length, or `None` at the end of the input.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<Option<usize>> {
    buf.clear();
    let mut length = 0usize;
    let mut any = false;
    loop {
        let chunk = fill(input)?;
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
    fn lines_read_in_the_buffer_or_gathered_across_it_replay_alike() {
        // Every line across a 1-byte buffer is gathered; in a large one, read where it lies.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/scenarios");
        let mut input = b"\xEF\xBB\xBF".to_vec();
        for scenario in ["noise-and-malformed", "rolling"] {
            input.extend(std::fs::read(format!("{dir}/{scenario}/input.jsonl")).expect("scenario input"));
        }
        input.extend_from_slice(b"\n  \n\xFF\xFE not utf-8\n");
        input.extend(vec![b'x'; MAX_BODY_BYTES + 10]);
        input.extend_from_slice(b"\n{\"last\": true}");
        let replayed = |capacity: usize| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let correlator = Correlator::new(cutover_correlator::Routing::default());
            let summary = run(correlator, io::BufReader::with_capacity(capacity, &input[..]), &mut out, &mut err)
                .expect("replay");
            (summary, String::from_utf8(out).expect("utf-8"), String::from_utf8(err).expect("utf-8"))
        };
        let (summary, out, err) = replayed(1 << 21);
        assert!(summary.actions > 0 && summary.rejected >= 3, "{summary}");
        assert!(err.contains("not UTF-8") && err.contains("exceeds the limit"), "{err}");
        for capacity in [1, 7, 4096] {
            assert_eq!(replayed(capacity), (summary, out.clone(), err.clone()), "buffer of {capacity} bytes");
        }
    }

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
