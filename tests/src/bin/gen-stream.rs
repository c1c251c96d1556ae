//! Writes the benchmark stream to stdout, one SQS body per line.
//! `gen-stream [EVENTS] [SERVICES]` (defaults 200000 and 1000); counts go to stderr.
//! `gen-stream --in-flight SERVICES`: every service with one deployment in flight.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--in-flight") {
        args.next();
        let services: usize = args.next().unwrap_or_else(|| "10000".into()).parse().map_err(std::io::Error::other)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        let mut result = Ok(());
        let n = cutover_e2e::stream::in_flight(services, |line| {
            if result.is_ok() {
                result = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
            }
        });
        result?;
        out.flush()?;
        eprintln!("{services} services in flight, {n} events");
        return Ok(());
    }
    let mut params = cutover_e2e::stream::Params::default();
    if let Some(n) = args.next() {
        params.events = n.parse().map_err(|e| std::io::Error::other(format!("EVENTS: {e}")))?;
    }
    if let Some(n) = args.next() {
        params.services = n.parse().map_err(|e| std::io::Error::other(format!("SERVICES: {e}")))?;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut result = Ok(());
    let generated = cutover_e2e::stream::generate(&params, |line| {
        if result.is_ok() {
            result = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
        }
    });
    result?;
    out.flush()?;
    eprintln!("{generated:?}");
    Ok(())
}
