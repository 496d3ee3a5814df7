//! The `disco` binary: parse flags, run one library call, map the outcome to an exit code.

mod cli;

fn main() {
    restore_sigpipe();
    std::process::exit(cli::run());
}

/// Rust ignores SIGPIPE, so `disco plan | head` made every later `println!` fail with
/// EPIPE and panic (exit 101). Like other command-line tools, disco ends quietly when the
/// reader of its output has gone. disco writes to no other pipe (the video helper's
/// output is collected whole), so nothing else can raise the signal.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
