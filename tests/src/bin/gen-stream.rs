//! Writes the benchmark stream to stdout, one SQS body per line.
//! `gen-stream [EVENTS] [SERVICES]` (defaults 200000 and 1000); counts go to stderr.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
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
