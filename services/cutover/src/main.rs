//! The `cutover` binary: see the library's `cli` module.

fn main() -> std::process::ExitCode {
    cutover::cli::main()
}
