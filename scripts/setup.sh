#!/usr/bin/env bash
# Installs what disco needs on a fresh Debian 12 machine, idempotently:
#   - the Python environment of onnx-export in .venv (pinned; torch, onnx, onnxruntime, pytest),
#     which also provides the ONNX Runtime shared library that disco loads;
#   - the FFmpeg development libraries (apt) that ffmpeg-next builds against;
#   - Chromium (apt), which the report's browser test runs headless;
#   - Slurm, munge and nginx with WebDAV (apt), which the render-farm test starts
#     (tests/integration/farm.rs: a single-node Slurm array over an http cache);
#   - zstd (apt), for scripts/gpu-pack.sh and its tests (docs/gpu.md);
#   - nothing is downloaded at run time by disco itself.
# Re-running is fast: the Python packages are reinstalled only when requirements.txt changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '[setup] %s\n' "$*" >&2; }

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v cargo >/dev/null || { say "cargo not found: install Rust (rustup) first"; exit 1; }
# FFmpeg's development files for ffmpeg-next (video assembly; Debian 12's libavcodec has libx264),
# plus pkg-config and clang, which its build script uses to find and bind them.
# Chromium loads images_out/report.html from file:// in tests/integration/report.rs.
# The farm test runs its own munged, slurmctld, slurmd and nginx; htpasswd (apache2-utils)
# writes the cache's password file. Nothing here starts them. zstd compresses the pieces of
# scripts/gpu-pack.sh (tests/integration/gpu_pack.rs).
for pkg in libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev \
    libavdevice-dev pkg-config clang chromium \
    slurmctld slurmd slurm-client munge nginx-light libnginx-mod-http-dav-ext apache2-utils zstd; do
    # any installed nginx with the WebDAV module will do (nginx-light conflicts with the others)
    [[ "$pkg" == nginx-light ]] && nginx -V 2>&1 | grep -q http_dav_module && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
    say "installing ${need_apt[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}"
fi

req="onnx-export/requirements.txt"
stamp=".venv/.disco-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv"
    python3 -m venv .venv
fi
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
    say "installing pinned Python packages (torch is large: about a minute and 5.5 GB)"
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r "$req"
    echo "$want" > "$stamp"
else
    say "Python packages up to date"
fi

lib="$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1 || true)"
if [[ -z "$lib" ]]; then
    say "the onnxruntime wheel did not provide libonnxruntime.so"
    exit 1
fi
say "ONNX Runtime library: $lib (disco finds it in .venv by itself)"
