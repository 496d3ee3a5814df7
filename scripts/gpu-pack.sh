#!/usr/bin/env bash
# Packs ONNX Runtime's CUDA build for a machine that cannot download it (docs/gpu.md).
#
# From the pinned onnxruntime-gpu wheel (its sha256 is checked) this extracts the three shared
# libraries disco loads (libonnxruntime.so.<version>, libonnxruntime_providers_shared.so,
# libonnxruntime_providers_cuda.so), compresses each with `zstd -19`, splits the result into
# pieces of at most --piece-mb MB (1 MB = 1,000,000 bytes) and writes MANIFEST beside them: the
# sha256 and size of every piece and of every decompressed file. scripts/gpu-bench.sh verifies
# and reassembles them on the other machine. A copy of this machine's `zstd` binary goes into
# tools/, for a machine without one.
#
#   scripts/gpu-pack.sh                       # pieces of at most 60 MB into target/gpu-pack/
#   scripts/gpu-pack.sh --piece-mb 14         # small pieces, e.g. for a copy tool with a size limit
#   scripts/gpu-pack.sh --add target/release/disco   # other files to carry, packed the same way
#
# Options:
#   --wheel PATH         the wheel (default: $DISCO_ORT_GPU_WHEEL, else target/gpu-pack.work/<pinned
#                        name>, downloaded there with .venv's pip if missing)
#   --wheel-sha256 HEX   the wheel's expected sha256 (default: the pinned one; for tests)
#   --piece-mb N         largest piece in MB (default 60)
#   --add PATH           another file to pack (repeatable); it is unpacked under files/
#   --out DIR            where pieces and MANIFEST go (default target/gpu-pack; emptied of old
#                        pieces first)
#   --work DIR           extracted and compressed files, kept between runs (default
#                        target/gpu-pack.work)
#   --no-tool            do not copy the zstd binary into tools/
#   --carry-mb N         also sort the pieces into folders carry-01/, carry-02/, … under --out (hard
#                        links), each at most N MB, the first with MANIFEST and tools/: one folder per
#                        call of a copy tool that carries N MB at a time (gpu-bench.sh --collect)
#
# Idempotent: the wheel is checked on every run, a library is re-extracted only when its file is
# missing or differs, and a file is recompressed only when its compressed copy was made from
# other bytes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ORT_VERSION=1.31.1
WHEEL_NAME="onnxruntime_gpu-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256=e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6
LIBS=("libonnxruntime.so.${ORT_VERSION}" libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)
ZSTD_LEVEL=19

say() { printf '[gpu-pack] %s\n' "$*" >&2; }
die() {
    printf '[gpu-pack] error: %s\n' "$*" >&2
    exit 1
}

wheel="${DISCO_ORT_GPU_WHEEL:-}"
wheel_sha="$WHEEL_SHA256"
piece_mb=60
out=target/gpu-pack
work=target/gpu-pack.work
tool=1
carry_mb=""
adds=()
while (($#)); do
    case "$1" in
    --wheel) wheel="${2:?--wheel needs a path}"; shift 2 ;;
    --wheel-sha256) wheel_sha="${2:?--wheel-sha256 needs a hash}"; shift 2 ;;
    --piece-mb) piece_mb="${2:?--piece-mb needs a number}"; shift 2 ;;
    --add) adds+=("${2:?--add needs a path}"); shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --work) work="${2:?--work needs a directory}"; shift 2 ;;
    --no-tool) tool=0; shift ;;
    --carry-mb) carry_mb="${2:?--carry-mb needs a number}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \`$1\` (see --help)" ;;
    esac
done

[[ "$piece_mb" =~ ^[1-9][0-9]*$ ]] || die "--piece-mb must be a whole number of MB above 0, not \`$piece_mb\`"
piece_bytes=$((piece_mb * 1000000))
if [[ -n "$carry_mb" ]]; then
    [[ "$carry_mb" =~ ^[1-9][0-9]*$ ]] || die "--carry-mb must be a whole number of MB above 0, not \`$carry_mb\`"
    ((carry_mb >= piece_mb)) || die "--carry-mb $carry_mb is below --piece-mb $piece_mb: a piece would not fit in a carry folder"
fi
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# zstd: the CLI, installed with apt-get as scripts/setup.sh installs its packages when missing.
if ! command -v zstd >/dev/null; then
    command -v apt-get >/dev/null || die "zstd not found and no apt-get to install it: install zstd"
    say "installing zstd with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd; }
fi
zstd_bin="$(command -v zstd)"

python=python3
[[ -x .venv/bin/python ]] && python=.venv/bin/python
mkdir -p "$work" "$out"

# --- the wheel --------------------------------------------------------------------------------
if [[ -z "$wheel" ]]; then
    wheel="$work/$WHEEL_NAME"
    if [[ ! -f "$wheel" ]]; then
        say "downloading onnxruntime-gpu==$ORT_VERSION into $work"
        "$python" -m pip download -q --disable-pip-version-check --no-deps \
            --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
            "onnxruntime-gpu==$ORT_VERSION" -d "$work" || die "pip could not download onnxruntime-gpu==$ORT_VERSION"
    fi
fi
[[ -f "$wheel" ]] || die "no wheel at $wheel"
got="$(sha "$wheel")"
[[ "$got" == "$wheel_sha" ]] ||
    die "the wheel $wheel has sha256 $got, not the pinned $wheel_sha: not the onnxruntime-gpu $ORT_VERSION wheel this script was made for"
say "wheel $(basename "$wheel"): sha256 ok"

# --- extract the libraries (only those missing or different) -----------------------------------
mkdir -p "$work/lib"
"$python" - "$wheel" "$work/lib" "${LIBS[@]}" <<'EOF' || die "could not extract the libraries from $wheel"
import os, sys, zipfile, zlib
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    members = {os.path.basename(n): n for n in z.namelist() if "/capi/" in n}
    for name in names:
        if name not in members:
            sys.exit(f"the wheel has no onnxruntime/capi/{name}")
        info = z.getinfo(members[name])
        path = os.path.join(dest, name)
        if os.path.exists(path) and os.path.getsize(path) == info.file_size:
            crc = 0
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    crc = zlib.crc32(block, crc)
            if crc == info.CRC:
                continue
        tmp = path + ".tmp"
        with z.open(info) as src, open(tmp, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        os.replace(tmp, path)
        print(f"[gpu-pack] extracted {name} ({info.file_size} bytes)", file=sys.stderr)
EOF

# --- compress (only when the bytes changed), split, write the manifest -------------------------
# compress SRC NAME: $work/zst/NAME.zst, made from SRC with zstd -19 unless the stamp beside it
# says it was made from these bytes already.
compress() {
    local src="$1" name="$2" sum="$3"
    local zst="$work/zst/$name.zst" stamp="$work/zst/$name.zst.from"
    mkdir -p "$work/zst"
    if [[ -f "$zst" && "$(cat "$stamp" 2>/dev/null || true)" == "$sum $ZSTD_LEVEL" ]]; then
        return
    fi
    say "compressing $name ($(size "$src") bytes) with zstd -$ZSTD_LEVEL"
    rm -f "$stamp"
    "$zstd_bin" -q -f "-$ZSTD_LEVEL" -T0 "$src" -o "$zst.tmp"
    mv -f "$zst.tmp" "$zst"
    echo "$sum $ZSTD_LEVEL" >"$stamp"
}

# Old pieces go first: a smaller --piece-mb makes more pieces, a larger one fewer.
find "$out" -maxdepth 1 -type f \( -name '*.zst.part-*' -o -name MANIFEST -o -name 'MANIFEST.tmp' \) -delete
rm -rf "$out/tools" "$out"/carry-[0-9]*
manifest="$out/MANIFEST.tmp"
{
    echo "disco-gpu-pack 1"
    echo "ort $ORT_VERSION"
    echo "wheel $(basename "$wheel") $wheel_sha"
    echo "piece_bytes $piece_bytes"
} >"$manifest"

# pack ROLE SRC NAME: one file into pieces and manifest lines.
#   file ROLE NAME MODE SIZE SHA256 PIECES
#   piece NAME INDEX PIECE-FILE SIZE SHA256
pack() {
    local role="$1" src="$2" name="$3"
    [[ "$name" =~ ^[A-Za-z0-9._+-]+$ ]] || die "cannot pack \`$name\`: use a file name of letters, digits and ._+-"
    local sum mode zst n i p
    sum="$(sha "$src")"
    mode=644
    [[ -x "$src" ]] && mode=755
    compress "$src" "$name" "$sum"
    zst="$work/zst/$name.zst"
    split -b "$piece_bytes" -d -a 3 "$zst" "$out/$name.zst.part-"
    n="$(find "$out" -maxdepth 1 -name "$name.zst.part-*" | wc -l)"
    echo "file $role $name $mode $(size "$src") $sum $n" >>"$manifest"
    for ((i = 0; i < n; i++)); do
        p="$name.zst.part-$(printf '%03d' "$i")"
        (($(size "$out/$p") <= piece_bytes)) || die "piece $p is larger than $piece_bytes bytes"
        echo "piece $name $i $p $(size "$out/$p") $(sha "$out/$p")" >>"$manifest"
    done
    say "$name: $(size "$src") bytes -> $(size "$zst") compressed, $n piece(s) of at most $piece_mb MB"
}

for lib in "${LIBS[@]}"; do
    pack ort "$work/lib/$lib" "$lib"
done
for f in "${adds[@]+"${adds[@]}"}"; do
    [[ -f "$f" ]] || die "--add $f: no such file"
    pack extra "$f" "$(basename "$f")"
done
if ((tool)); then
    mkdir -p "$out/tools"
    cp "$zstd_bin" "$out/tools/zstd"
    echo "tool zstd tools/zstd $(size "$out/tools/zstd") $(sha "$out/tools/zstd")" >>"$manifest"
fi
mv -f "$manifest" "$out/MANIFEST"

total="$(find "$out" -maxdepth 2 ! -path '*/carry-*' -type f -printf '%s\n' | awk '{s += $1} END {print s}')"

# --- carry folders: first fit, largest pieces first; the first folder also holds MANIFEST and tools
if [[ -n "$carry_mb" ]]; then
    carry_bytes=$((carry_mb * 1000000))
    first=$(size "$out/MANIFEST")
    ((tool)) && first=$((first + $(size "$out/tools/zstd")))
    ((first <= carry_bytes)) || die "--carry-mb $carry_mb cannot hold MANIFEST and tools/zstd ($first bytes)"
    used=("$first")
    declare -A bin_of=()
    while read -r bytes piece; do
        b=0
        while ((b < ${#used[@]})) && ((used[b] + bytes > carry_bytes)); do b=$((b + 1)); done
        if ((b == ${#used[@]})); then
            ((bytes <= carry_bytes)) || die "piece $piece ($bytes bytes) is larger than --carry-mb $carry_mb"
            used+=(0)
        fi
        used[b]=$((used[b] + bytes))
        bin_of[$piece]=$b
    done < <(awk '$1 == "piece" {print $5, $4}' "$out/MANIFEST" | sort -k1,1nr -k2,2)
    for ((b = 0; b < ${#used[@]}; b++)); do mkdir -p "$out/$(printf 'carry-%02d' $((b + 1)))"; done
    for piece in "${!bin_of[@]}"; do
        dir="$out/$(printf 'carry-%02d' $((bin_of[$piece] + 1)))"
        ln -f "$out/$piece" "$dir/$piece" 2>/dev/null || cp -f "$out/$piece" "$dir/$piece"
    done
    cp -f "$out/MANIFEST" "$out/carry-01/MANIFEST"
    if ((tool)); then
        mkdir -p "$out/carry-01/tools"
        cp -f "$out/tools/zstd" "$out/carry-01/tools/zstd"
    fi
    for ((b = 0; b < ${#used[@]}; b++)); do
        say "$(printf 'carry-%02d' $((b + 1))): ${used[b]} bytes"
    done
    say "${#used[@]} carry folder(s) of at most $carry_mb MB under $out: carry each in one call and run scripts/gpu-bench.sh --collect FOLDER there"
fi
say "wrote $out/MANIFEST: $(grep -c '^piece ' "$out/MANIFEST") piece(s), $total bytes in $out"
say "carry $out to the CUDA machine and run scripts/gpu-bench.sh there (docs/gpu.md)"
