//! # cutover
//!
//! Says the moment production traffic moved to the new version of an ECS service.
//!
//! # Layout
//! - `cli`: the subcommands and their exit codes.
//! - `config`: the TOML config with environment overrides.
//! - `replay`: recorded SQS bodies through the correlator, offline.

mod cli;
mod config;
mod replay;

fn main() -> std::process::ExitCode {
    cli::main()
}
