//! The command line. Exit codes: 0 success; 1 a runtime failure (IO); 2 a usage or config
//! error, with a message that names the problem.

use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cutover_correlator::Correlator;

use crate::config::Config;
use crate::replay;

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about = "Says the moment production traffic moved to the new version of an ECS service."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feed recorded SQS message bodies (one per line) through the correlator, offline, and
    /// print every decided action as one JSON object per line.
    Replay {
        /// Config file (TOML). Without it: channel `deployments`, no routes, no invalidations.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Input file, or `-` (the default) for standard input.
        #[arg(value_name = "FILE|-")]
        input: Option<PathBuf>,
    },
    /// Validate a config file and say what it routes.
    CheckConfig {
        /// Config file (TOML).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { config, input } => replay_command(config, input),
        Command::CheckConfig { file } => check_config(&file),
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("cutover: {message}");
    ExitCode::from(code)
}

fn replay_command(config: Option<PathBuf>, input: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    let correlator = Correlator::new(config.routing()).with_retention_ms(config.retention_ms());
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let stderr = io::stderr();
    let mut err = io::BufWriter::new(stderr.lock());
    let result = match input.as_deref() {
        None => replay::run(correlator, io::stdin().lock(), &mut out, &mut err),
        Some(p) if p.as_os_str() == "-" => replay::run(correlator, io::stdin().lock(), &mut out, &mut err),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => replay::run(correlator, BufReader::with_capacity(1 << 16, f), &mut out, &mut err),
            Err(e) => {
                drop(err);
                return fail(2, format!("cannot read input {}: {e}", p.display()));
            }
        },
    };
    let flushed = out.flush();
    match result {
        Ok(summary) => {
            let _ = writeln!(err, "{summary}");
            let _ = err.flush();
            match flushed {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => fail(1, format!("cannot write output: {e}")),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            let _ = err.flush();
            fail(1, format!("replay failed: {e}"))
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(Some(file)) {
        Ok(c) => {
            println!(
                "{}: ok (default channel {:?}, {} route(s), {} invalidation(s), retention {} h)",
                file.display(),
                c.slack.channel,
                c.routes.len(),
                c.invalidations.len(),
                c.state.retention_hours
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, e),
    }
}
