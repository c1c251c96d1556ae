//! The `cutover` binary, built in this crate so that its end-to-end tests can run it as a
//! process of its own (and kill it): the same `cutover::cli::main`.

fn main() -> std::process::ExitCode {
    cutover::cli::main()
}
