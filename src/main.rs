//! The `disco` binary: parse flags, run one library call, map the outcome to an exit code.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
