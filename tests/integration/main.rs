//! End-to-end tests of the `disco` binary and library, one binary with modules by theme.

mod support;

mod anim;
mod animation;
mod architecture;
mod build;
mod check_examples;
mod dd_arithmetic;
mod dd_semantics;
mod docs;
mod engine;
mod engine_seams;
mod fuzz_import;
mod fuzz_loader;
mod fuzz_support;
mod gc;
mod hostile;
mod import;
mod init;
mod invalid_corpus;
mod key_flags;
mod key_golden;
mod lock;
mod models;
mod parameters;
mod parity;
mod project;
mod quality;
mod render;
mod report;
mod setup;
mod shard;
mod video;
mod warp3d;
mod watch;
mod watch_loop;
