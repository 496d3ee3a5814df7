#!/usr/bin/env bash
# Builds the example project end to end, from a fresh clone:
#   set-up, release build of disco, a model set (the tiny one exported by onnx-export, as
#   real checkpoints cannot be downloaded here; see docs/models.md for the real models),
#   then `disco check`, `disco doctor` and `disco build` (twice: the second renders nothing)
#   on examples/quickstart.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*" >&2; }

step "set-up"
scripts/setup.sh

step "build disco (release)"
cargo build --locked --release

if [[ ! -f models/default/manifest.json ]]; then
    step "export a model set into models/default (tiny random-weight set)"
    (cd onnx-export && ../.venv/bin/python -m disco_export --tiny --out ../models/default)
fi

step "disco check examples/quickstart"
target/release/disco check examples/quickstart

step "disco doctor examples/quickstart"
target/release/disco doctor examples/quickstart --verify

step "disco build examples/quickstart"
target/release/disco build examples/quickstart

step "disco build examples/quickstart again (nothing changed: nothing renders)"
target/release/disco build examples/quickstart

step "the images"
ls -l examples/quickstart/images_out/quickstart/
