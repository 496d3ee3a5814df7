#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, Rust (fmt, clippy, tests), the ONNX
# exporter (tiny model set through the real export code, then pytest), and a check that
# disco reads the exported model set through ONNX Runtime.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*" >&2; }

step "set-up"
scripts/setup.sh

step "Rust: format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

step "onnx-export: tiny model set through the real export path (verified against torch)"
rm -rf target/models/tiny
(cd onnx-export && ../.venv/bin/python -m disco_export --tiny --out ../target/models/tiny)

step "Rust: tests (the model tests run the tiny set through ONNX Runtime)"
DISCO_TINY_MODELS="$root/target/models/tiny" cargo test --locked

step "onnx-export: pytest"
(cd onnx-export && DISCO_TINY_MODELS=../target/models/tiny ../.venv/bin/python -m pytest -q tests)

step "disco reads the exported model set and loads ONNX Runtime"
cargo run --locked --quiet -- doctor --model-set target/models/tiny --verify
