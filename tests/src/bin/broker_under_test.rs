//! The real `broker` command, built inside the test crate so that integration tests can run it
//! as a subprocess (`CARGO_BIN_EXE_broker-under-test`): same code, one line of main.

fn main() -> std::process::ExitCode {
    broker::cli::main()
}
