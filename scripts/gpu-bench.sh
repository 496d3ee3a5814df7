#!/usr/bin/env bash
# Runs disco's render-step benchmarks on ONNX Runtime's CUDA provider, on a machine that has
# CUDA 13 and cuDNN 9 (e.g. through PyTorch's nvidia-* pip packages) but no internet and no
# onnxruntime-gpu. The ONNX Runtime CUDA build comes as pieces made by scripts/gpu-pack.sh
# (docs/gpu.md). In order, stopping with a non-zero exit at the first thing wrong:
#
#   1. read MANIFEST and check every piece (size, sha256) in the piece folders; list every piece
#      that is missing or corrupt                                           (exit 3)
#   2. reassemble and decompress each file into --out, check its size and sha256; a packed
#      extra file NAME.tar is also unpacked into --out/files/                (exit 3)
#   3. find libcudart/libcublas/libcublasLt/libcurand/libcufft/libcudnn through python3's
#      nvidia packages, put them on LD_LIBRARY_PATH and check the CUDA provider's libraries
#      all resolve (ldd)                                                    (exit 4)
#   4. `disco doctor --ort-lib LIB`: the library loads and offers CUDA      (exit 5)
#   5. the benchmarks with DISCO_BENCH_DEVICE=cuda: render_step on the tiny set (also the proof
#      that CUDA sessions open and run: the device is registered error-on-failure), then
#      render_step_real on a --random-weights set if one is given           (exit 6)
#
#   scripts/gpu-bench.sh                          # everything, on CUDA
#   scripts/gpu-bench.sh --check                  # step 1 only: which pieces are here
#   scripts/gpu-bench.sh --collect DIR            # move DIR's pieces into the store, then --check
#   scripts/gpu-bench.sh --dry-run                # on a machine without a GPU: steps 1-5 on the
#                                                 # CPU (missing CUDA libraries are reported only)
#
# Options:
#   --pieces DIR     a folder holding MANIFEST and/or pieces (repeatable; default: target/gpu-pack,
#                    the store target/gpu-pieces and ../disco-gpu-pack beside the repository; the
#                    first MANIFEST found is used, with a warning if another differs)
#   --collect DIR    move DIR's MANIFEST, pieces and tools into the store (checking each piece),
#                    then report what is still missing; exits 0 once the pieces offered are good
#   --store DIR      where --collect gathers pieces across calls (default target/gpu-pieces)
#   --out DIR        where the files are unpacked (default target/gpu-unpacked)
#   --check          stop after step 1          --unpack-only   stop after step 2
#   --dry-run        run on the CPU: CUDA libraries optional, benchmarks with DISCO_BENCH_DEVICE=cpu
#   --device D       cuda (default), cuda:N, or cpu (same as --dry-run)
#   --python PY      the Python with the nvidia packages (default python3)
#   --zstd WHAT      the decompressor: a path, `tool` (the pack's tools/zstd) or `python`
#                    (default: zstd on PATH, else tools/zstd, else python3's zstandard,
#                    compression.zstd or pyarrow)
#   --disco BIN      disco binary (default: files/disco from the pack, else target/release/disco)
#   --bench NAME=BIN a benchmark binary, NAME render_step or render_step_real (default: files/
#                    NAME-* from the pack, else target/release/deps/NAME-*)
#   --tiny DIR       tiny model set (default: files/tiny from the pack, e.g. packed as
#                    `tar -C target/models -cf target/tiny.tar tiny` + `--add target/tiny.tar`;
#                    else target/models/tiny)
#   --models DIR     a --random-weights set for render_step_real (none: that benchmark is skipped)
#   --reference      also time the PyTorch reference (on the CPU; needs disco_export's imports)
# The benchmarks' own variables (DISCO_BENCH_SIZES, DISCO_BENCH_STEPS, DISCO_BENCH_PATHS) pass
# through; without DISCO_BENCH_SIZES the tiny benchmark runs at 128 only.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '[gpu-bench] %s\n' "$*" >&2; }
die() {
    local code="$1"
    shift
    printf '[gpu-bench] error: %s\n' "$*" >&2
    exit "$code"
}

pieces_dirs=()
collect=""
store=target/gpu-pieces
out=target/gpu-unpacked
stop=""
device=cuda
python=python3
zstd_choice=""
disco=""
declare -A bench=()
tiny=""
models=""
reference=0
while (($#)); do
    case "$1" in
    --pieces) pieces_dirs+=("${2:?--pieces needs a directory}"); shift 2 ;;
    --collect) collect="${2:?--collect needs a directory}"; shift 2 ;;
    --store) store="${2:?--store needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --check) stop=check; shift ;;
    --unpack-only) stop=unpack; shift ;;
    --dry-run) device=cpu; shift ;;
    --device) device="${2:?--device needs cuda, cuda:N or cpu}"; shift 2 ;;
    --python) python="${2:?--python needs a path}"; shift 2 ;;
    --zstd) zstd_choice="${2:?--zstd needs a path, tool or python}"; shift 2 ;;
    --disco) disco="${2:?--disco needs a path}"; shift 2 ;;
    --bench)
        [[ "${2:-}" =~ ^(render_step|render_step_real)=(.+)$ ]] ||
            die 2 "--bench takes render_step=BIN or render_step_real=BIN, not \`${2:-}\`"
        bench[${BASH_REMATCH[1]}]="${BASH_REMATCH[2]}"
        shift 2
        ;;
    --tiny) tiny="${2:?--tiny needs a directory}"; shift 2 ;;
    --models) models="${2:?--models needs a directory}"; shift 2 ;;
    --reference) reference=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die 2 "unknown argument \`$1\` (see --help)" ;;
    esac
done
[[ "$device" =~ ^(cpu|cuda|cuda:[0-9]+)$ ]] || die 2 "--device: cpu, cuda or cuda:N, not \`$device\`"
cuda=1
[[ "$device" == cpu ]] && cuda=0
((${#pieces_dirs[@]})) || pieces_dirs=(target/gpu-pack "$store" "$(dirname "$root")/disco-gpu-pack")
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- the manifest -------------------------------------------------------------------------------
# find_manifest: the first MANIFEST among the piece folders (and, with --collect, the offered one).
manifest=""
find_manifest() {
    manifest=""
    local d
    for d in "${pieces_dirs[@]}"; do
        [[ -f "$d/MANIFEST" ]] || continue
        if [[ -z "$manifest" ]]; then
            manifest="$d/MANIFEST"
        elif ! cmp -s "$manifest" "$d/MANIFEST"; then
            say "warning: $d/MANIFEST differs from $manifest, which is used (name the folder with --pieces to choose)"
        fi
    done
}

# read_manifest: parses $manifest into files[], file_* and piece_* maps; names the line of any
# error (exit 3).
declare -a files=() tools=()
declare -A file_role=() file_mode=() file_size=() file_sha=() file_n=()
declare -A piece_file=() piece_size=() piece_sha=() tool_path=() tool_size=() tool_sha=()
ort_version="" piece_bytes=""
read_manifest() {
    local line n=0 kind a b c d e f
    local hex='^[0-9a-f]{64}$' num='^[0-9]+$' name='^[A-Za-z0-9._+-]+$'
    bad() { die 3 "$manifest line $n is not a gpu-pack manifest line ($1): \`$line\`"; }
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        read -r kind a b c d e f <<<"$line" || true
        if ((n == 1)); then
            [[ "$line" == "disco-gpu-pack 1" ]] ||
                die 3 "$manifest does not start with \`disco-gpu-pack 1\` (not a manifest of scripts/gpu-pack.sh, or another version of it): \`$line\`"
            continue
        fi
        case "$kind" in
        ort) [[ -n "$a" && -z "$b" ]] || bad "ort VERSION"; ort_version="$a" ;;
        wheel) [[ -n "$a" && "$b" =~ $hex ]] || bad "wheel NAME SHA256" ;;
        piece_bytes) [[ "$a" =~ $num && -z "$b" ]] || bad "piece_bytes N"; piece_bytes="$a" ;;
        file)
            [[ "$a" =~ ^(ort|extra)$ && "$b" =~ $name && "$c" =~ ^[0-7]{3}$ && "$d" =~ $num && "$e" =~ $hex && "$f" =~ $num ]] ||
                bad "file ROLE NAME MODE SIZE SHA256 PIECES"
            [[ -z "${file_sha[$b]:-}" ]] || bad "file $b twice"
            files+=("$b")
            file_role[$b]="$a" file_mode[$b]="$c" file_size[$b]="$d" file_sha[$b]="$e" file_n[$b]="$f"
            ;;
        piece)
            [[ "$a" =~ $name && "$b" =~ $num && "$c" == "$a.zst.part-"* && "$c" =~ $name && "$d" =~ $num && "$e" =~ $hex && -z "$f" ]] ||
                bad "piece NAME INDEX FILE SIZE SHA256"
            [[ -n "${file_sha[$a]:-}" ]] || bad "a piece of $a before its file line"
            [[ -z "${piece_file[$a/$b]:-}" ]] || bad "piece $b of $a twice"
            piece_file[$a/$b]="$c" piece_size[$a/$b]="$d" piece_sha[$a/$b]="$e"
            ;;
        tool)
            [[ "$a" =~ $name && "$b" == "tools/$a" && "$c" =~ $num && "$d" =~ $hex && -z "$e" ]] ||
                bad "tool NAME tools/NAME SIZE SHA256"
            tools+=("$a")
            tool_path[$a]="$b" tool_size[$a]="$c" tool_sha[$a]="$d"
            ;;
        "") ;;
        *) bad "unknown kind \`$kind\`" ;;
        esac
    done <"$manifest"
    [[ -n "$ort_version" && -n "$piece_bytes" ]] || die 3 "$manifest has no \`ort\` or \`piece_bytes\` line"
    ((${#files[@]})) || die 3 "$manifest names no files"
    local fname i
    for fname in "${files[@]}"; do
        for ((i = 0; i < file_n[$fname]; i++)); do
            [[ -n "${piece_file[$fname/$i]:-}" ]] ||
                die 3 "$manifest says $fname has ${file_n[$fname]} pieces but has no line for piece $i"
            ((piece_size[$fname/$i] <= piece_bytes)) ||
                die 3 "$manifest: piece ${piece_file[$fname/$i]} is ${piece_size[$fname/$i]} bytes, over its piece_bytes $piece_bytes"
        done
    done
}

# check_pieces: finds every piece in the piece folders (a good copy wins over a corrupt one) and
# prints which are missing or corrupt. Sets found[] and problems.
declare -A found=()
problems=0
check_pieces() {
    local fname i p d cand bad_here
    problems=0
    found=()
    for fname in "${files[@]}"; do
        for ((i = 0; i < file_n[$fname]; i++)); do
            p="${piece_file[$fname/$i]}"
            bad_here=()
            for d in "${pieces_dirs[@]}"; do
                cand="$d/$p"
                [[ -f "$cand" ]] || continue
                if [[ "$(size "$cand")" != "${piece_size[$fname/$i]}" ]]; then
                    bad_here+=("$cand is $(size "$cand") bytes, the manifest says ${piece_size[$fname/$i]}")
                elif [[ "$(sha "$cand")" != "${piece_sha[$fname/$i]}" ]]; then
                    bad_here+=("$cand has sha256 $(sha "$cand"), the manifest says ${piece_sha[$fname/$i]}")
                else
                    found[$fname/$i]="$cand"
                    break
                fi
            done
            if [[ -z "${found[$fname/$i]:-}" ]]; then
                problems=$((problems + 1))
                if ((${#bad_here[@]})); then
                    local why
                    for why in "${bad_here[@]}"; do say "CORRUPT piece $p: $why"; done
                else
                    say "MISSING piece $p (piece $((i + 1)) of ${file_n[$fname]} of $fname; looked in ${pieces_dirs[*]})"
                fi
            fi
        done
    done
    local t
    for t in "${tools[@]+"${tools[@]}"}"; do
        found[tool/$t]=""
        for d in "${pieces_dirs[@]}"; do
            cand="$d/${tool_path[$t]}"
            if [[ -f "$cand" && "$(size "$cand")" == "${tool_size[$t]}" && "$(sha "$cand")" == "${tool_sha[$t]}" ]]; then
                found[tool/$t]="$cand"
                break
            fi
        done
    done
}

# --- --collect: gather pieces across calls ------------------------------------------------------
if [[ -n "$collect" ]]; then
    [[ -d "$collect" ]] || die 3 "--collect $collect: no such folder"
    mkdir -p "$store"
    if [[ -f "$collect/MANIFEST" ]]; then
        if [[ -f "$store/MANIFEST" ]] && ! cmp -s "$collect/MANIFEST" "$store/MANIFEST"; then
            say "$collect/MANIFEST differs from $store/MANIFEST: a new pack; the store's old pieces are dropped"
            find "$store" -maxdepth 1 -type f -name '*.zst.part-*' -delete
        fi
        cp -f "$collect/MANIFEST" "$store/MANIFEST"
    fi
    [[ -f "$store/MANIFEST" ]] || die 3 "no MANIFEST in $collect or $store: carry the pack's MANIFEST with the first pieces"
    manifest="$store/MANIFEST"
    read_manifest
    offered_bad=0
    for fname in "${files[@]}"; do
        for ((i = 0; i < file_n[$fname]; i++)); do
            p="${piece_file[$fname/$i]}"
            [[ -f "$collect/$p" ]] || continue
            if [[ "$(size "$collect/$p")" == "${piece_size[$fname/$i]}" && "$(sha "$collect/$p")" == "${piece_sha[$fname/$i]}" ]]; then
                mv -f "$collect/$p" "$store/$p"
                say "collected $p"
            else
                say "CORRUPT piece $collect/$p: not the bytes the manifest names (size $(size "$collect/$p"), sha256 $(sha "$collect/$p")); not collected"
                offered_bad=1
            fi
        done
    done
    if [[ -d "$collect/tools" ]]; then
        mkdir -p "$store/tools"
        find "$collect/tools" -maxdepth 1 -type f -exec cp -f {} "$store/tools/" \;
    fi
    pieces_dirs=("$store")
    check_pieces
    ((offered_bad)) && die 3 "$collect held corrupt pieces (above)"
    if ((problems)); then
        say "the store $store still lacks $problems piece(s) (above)"
    else
        say "the store $store holds every piece of $manifest"
    fi
    exit 0
fi

find_manifest
[[ -n "$manifest" ]] ||
    die 3 "no MANIFEST in ${pieces_dirs[*]}: run scripts/gpu-pack.sh where the wheel is and carry its output folder (docs/gpu.md), or name the folder with --pieces"
say "manifest $manifest (sha256 $(sha "$manifest"))"
read_manifest
check_pieces
((problems == 0)) || die 3 "$problems piece(s) missing or corrupt (above); nothing unpacked"
say "all $(grep -c '^piece ' "$manifest") pieces present and intact (ONNX Runtime $ort_version)"
[[ "$stop" == check ]] && exit 0

# --- unpack -------------------------------------------------------------------------------------
# The decompressor: a command reading zstd on stdin and writing the plain bytes to stdout.
mkdir -p "$out/lib" "$out/files" "$out/tools" "$out/tmp"
decomp=()
py_decomp() {
    decomp=("$python" -c '
import shutil, sys
src, dst = sys.stdin.buffer, sys.stdout.buffer
try:
    import zstandard
    zstandard.ZstdDecompressor().copy_stream(src, dst)
except ImportError:
    try:
        from compression import zstd  # Python 3.14
        with zstd.open(src, "rb") as f:
            shutil.copyfileobj(f, dst, 1 << 20)
    except ImportError:
        try:
            import pyarrow as pa
        except ImportError:
            sys.exit("no zstd decompressor in this Python (zstandard, compression.zstd, pyarrow): give --zstd PATH")
        with pa.input_stream(pa.py_buffer(src.read()), compression="zstd") as f:
            while block := f.read(1 << 20):
                dst.write(block)
')
}
tool_zstd() {
    [[ -n "${found[tool/zstd]:-}" ]] || die 3 "the pack has no intact tools/zstd (manifest $manifest)"
    cp -f "${found[tool/zstd]}" "$out/tools/zstd"
    chmod +x "$out/tools/zstd"
    decomp=("$out/tools/zstd" -d -q -c)
}
case "$zstd_choice" in
"")
    if command -v zstd >/dev/null; then
        decomp=(zstd -d -q -c)
    elif [[ -n "${found[tool/zstd]:-}" ]] && tool_zstd && "$out/tools/zstd" --version >/dev/null 2>&1; then
        :
    else
        py_decomp
    fi
    ;;
tool) tool_zstd ;;
python) py_decomp ;;
*) [[ -x "$zstd_choice" ]] || die 2 "--zstd $zstd_choice is not an executable"; decomp=("$zstd_choice" -d -q -c) ;;
esac
say "decompressing with ${decomp[0]}"

for fname in "${files[@]}"; do
    dest="$out/files/$fname"
    [[ "${file_role[$fname]}" == ort ]] && dest="$out/lib/$fname"
    if [[ -f "$dest" && "$(size "$dest")" == "${file_size[$fname]}" && "$(sha "$dest")" == "${file_sha[$fname]}" ]]; then
        say "$fname: already unpacked and intact"
        continue
    fi
    parts=()
    for ((i = 0; i < file_n[$fname]; i++)); do parts+=("${found[$fname/$i]}"); done
    tmp="$out/tmp/$fname"
    cat "${parts[@]}" | "${decomp[@]}" >"$tmp" || die 3 "$fname: its pieces did not decompress (${decomp[0]} failed)"
    got_size="$(size "$tmp")" got_sha="$(sha "$tmp")"
    if [[ "$got_size" != "${file_size[$fname]}" || "$got_sha" != "${file_sha[$fname]}" ]]; then
        rm -f "$tmp"
        die 3 "$fname: reassembled it is $got_size bytes with sha256 $got_sha, the manifest says ${file_size[$fname]} bytes with ${file_sha[$fname]}: the manifest does not belong to these pieces"
    fi
    chmod "${file_mode[$fname]}" "$tmp"
    mv -f "$tmp" "$dest"
    say "$fname: unpacked, ${file_size[$fname]} bytes, sha256 ok"
    if [[ "${file_role[$fname]}" == extra && "$fname" == *.tar ]]; then
        # A packed folder (e.g. `tar -C target/models -cf tiny.tar tiny`): unpacked beside it.
        tar -tf "$dest" | grep -qE '^/|(^|/)\.\.(/|$)' &&
            die 3 "$fname holds absolute paths or ..: not unpacked"
        tar -C "$out/files" -xf "$dest" || die 3 "$fname: tar could not unpack it"
        say "$fname: unpacked into $out/files/"
    fi
done
lib="$(cd "$out/lib" && pwd)/libonnxruntime.so.$ort_version"
[[ -f "$lib" ]] || die 3 "the pack holds no libonnxruntime.so.$ort_version"
say "ONNX Runtime $ort_version: $lib"
[[ "$stop" == unpack ]] && exit 0

# --- CUDA 13 and cuDNN 9 through python3's nvidia packages ---------------------------------------
command -v "$python" >/dev/null || die 4 "no $python: give --python PY (the Python that holds torch and the nvidia packages)"
# An absolute path (a venv's python keeps its symlink name), as the reference runs from onnx-export/.
if [[ "$python" == */* ]]; then
    python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")"
else
    python="$(command -v "$python")"
fi
mapfile -t nv_dirs < <("$python" - <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec("nvidia")
seen = []
for base in (spec.submodule_search_locations if spec else []):
    for dirpath, dirnames, filenames in os.walk(base):
        if dirpath[len(base):].count(os.sep) >= 3:
            dirnames[:] = []
        if os.path.basename(dirpath) == "lib" and any(".so" in f for f in filenames):
            seen.append(dirpath)
for d in sorted(set(seen)):
    print(d)
EOF
)
if ((${#nv_dirs[@]})); then
    say "nvidia library folders of $python: ${nv_dirs[*]}"
    LD_LIBRARY_PATH="$(
        IFS=:
        echo "${nv_dirs[*]}"
    )${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
else
    say "$python has no nvidia packages (import nvidia found no lib folders)"
fi
# Linked by the CUDA provider (libcuda.so.1 is the driver's) or opened by it at run time.
cuda_missing=()
for want in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcufft.so.12 libcudnn.so.9 libcuda.so.1; do
    hit=""
    IFS=: read -r -a search <<<"${LD_LIBRARY_PATH:-}"
    for d in "${search[@]+"${search[@]}"}"; do
        [[ -n "$d" && -e "$d/$want" ]] && { hit="$d/$want"; break; }
    done
    [[ -z "$hit" ]] && hit="$( (ldconfig -p 2>/dev/null || true) | awk -v w="$want" '$1 == w && !found {print $NF; found = 1}')"
    # Last, what the dynamic loader itself finds (a default folder outside ldconfig's cache).
    [[ -z "$hit" ]] && "$python" -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1])' "$want" 2>/dev/null &&
        hit="(dlopen finds it)"
    if [[ -n "$hit" ]]; then
        say "  $want: $hit"
    else
        cuda_missing+=("$want")
    fi
done
unresolved=""
if ! command -v ldd >/dev/null; then
    say "no ldd here: the CUDA provider's own links are not checked before doctor"
elif ldd_out="$(ldd "$out/lib/libonnxruntime_providers_cuda.so" 2>&1)"; then
    unresolved="$(awk '/not found/ {print $1}' <<<"$ldd_out" | sort -u | tr '\n' ' ')"
    [[ -n "$unresolved" ]] && unresolved="ldd of the CUDA provider: not found ${unresolved% }"
else
    unresolved="ldd cannot read libonnxruntime_providers_cuda.so: $(tr '\n\t' '  ' <<<"$ldd_out")"
fi
if ((${#cuda_missing[@]})) || [[ -n "$unresolved" ]]; then
    msg="CUDA libraries not found: ${cuda_missing[*]:-none}${unresolved:+; $unresolved}"
    ((cuda)) && die 4 "$msg; they come with PyTorch's nvidia-* packages (cuda-runtime, cublas, curand, cufft, cudnn-cu13) and the NVIDIA driver"
    say "dry run, so not an error: $msg"
fi

# --- the binaries -------------------------------------------------------------------------------
# newest DIR PREFIX: the newest executable DIR/PREFIX-* (cargo's bench binaries carry a hash).
newest() {
    [[ -d "$1" ]] || return 0
    find "$1" -maxdepth 1 -type f -executable -name "$2-*" ! -name '*.d' -printf '%T@ %p\n' |
        sort -rn | head -n1 | cut -d' ' -f2-
}
if [[ -z "$disco" ]]; then
    if [[ -x "$out/files/disco" ]]; then disco="$out/files/disco"; else disco=target/release/disco; fi
fi
[[ -x "$disco" ]] || die 5 "no disco binary at $disco: build it where cargo is (cargo build --release) and carry it (gpu-pack.sh --add target/release/disco) or give --disco"
for b in render_step render_step_real; do
    [[ -n "${bench[$b]:-}" ]] && continue
    bench[$b]="$(newest "$out/files" "$b")"
    [[ -n "${bench[$b]}" ]] || bench[$b]="$(newest target/release/deps "$b")"
done

# --- disco doctor -------------------------------------------------------------------------------
say "disco doctor --ort-lib $lib"
doctor_out="$("$disco" doctor --ort-lib "$lib" 2>&1)" || true
printf '%s\n' "$doctor_out"
grep -q "^ONNX Runtime $ort_version" <<<"$doctor_out" || die 5 "disco could not load $lib (doctor above)"
if ! grep -q "execution provider CUDA: available" <<<"$doctor_out"; then
    ((cuda)) && die 5 "this ONNX Runtime offers no CUDA provider (doctor above)"
    say "dry run: CUDA not offered, as expected without the CUDA build's provider"
fi

# --- the benchmarks -----------------------------------------------------------------------------
export ORT_DYLIB_PATH="$lib" DISCO_BENCH_DEVICE="$device" DISCO_BENCH_ROOT="$root"
export DISCO_BENCH_PYTHON="$python"
if ((reference)); then
    (cd onnx-export && "$python" -c 'import disco_export.reference') ||
        die 6 "--reference: $python cannot import disco_export.reference (above); carry the missing packages as wheels"
    export DISCO_REFERENCE=1
else
    export DISCO_REFERENCE=0
fi
if [[ -z "$tiny" ]]; then
    tiny=target/models/tiny
    [[ -f "$out/files/tiny/manifest.json" ]] && tiny="$out/files/tiny"
fi
ran=0
if [[ -f "$tiny/manifest.json" ]]; then
    [[ -n "${bench[render_step]}" ]] || die 6 "no render_step benchmark binary: build it with cargo bench --bench render_step --no-run and carry it, or give --bench render_step=BIN"
    say "render_step on $tiny, device $device (${bench[render_step]})"
    DISCO_TINY_MODELS="$(cd "$tiny" && pwd)" DISCO_BENCH_SIZES="${DISCO_BENCH_SIZES:-128}" \
        "${bench[render_step]}" || die 6 "render_step failed on $device (above)"
    ran=1
else
    say "no tiny model set at $tiny (give --tiny DIR): render_step skipped"
fi
if [[ -n "$models" ]]; then
    [[ -f "$models/manifest.json" ]] || die 6 "--models $models has no manifest.json"
    [[ -n "${bench[render_step_real]}" ]] || die 6 "no render_step_real benchmark binary: give --bench render_step_real=BIN"
    say "render_step_real on $models, device $device (${bench[render_step_real]})"
    DISCO_BENCH_MODELS="$(cd "$models" && pwd)" "${bench[render_step_real]}" ||
        die 6 "render_step_real failed on $device (above)"
    ran=1
fi
((ran)) || die 6 "no benchmark ran: give --tiny DIR and/or --models DIR"
say "done: ONNX Runtime $ort_version, device $device"
