#!/usr/bin/env bash
# Builds the example project end to end, from a fresh clone:
#   set-up, release build of disco, then `disco check`, `disco doctor` and `disco build`
#   (twice: the second renders nothing) on examples/quickstart, with the toy model set that
#   ships in models/toy (real checkpoints cannot be downloaded here; docs/models.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*" >&2; }

step "set-up"
scripts/setup.sh

step "build disco (release)"
cargo build --locked --release

step "disco check examples/quickstart"
target/release/disco check examples/quickstart

step "disco doctor examples/quickstart"
target/release/disco doctor examples/quickstart --verify

step "disco build examples/quickstart"
target/release/disco build examples/quickstart

step "disco build examples/quickstart again (nothing changed: nothing renders)"
target/release/disco build examples/quickstart

step "disco status --check (nothing stale, disco.lock agrees)"
target/release/disco status --check examples/quickstart

step "disco verify --sample 1 (re-render one image in a scratch store, compare with disco.lock)"
target/release/disco verify examples/quickstart --sample 1 --seed 1

step "the images"
ls -l examples/quickstart/images_out/quickstart/
