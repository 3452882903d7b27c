#!/usr/bin/env bash
# Soak test (a benchmark, not part of CI): one `restore` run over N small images (default
# 1000 at 48x32, PNG, JPEG, TIFF and WebP), 5% of them corrupt in various ways, on whatever
# adapter is present (lavapipe on a machine without a GPU). It checks that
#   - every good file is written, and decodes at its input's size,
#   - every bad file is named in an `error: <file>:` line and the run exits 1,
#   - nothing else is left: the output folder holds exactly the good files' outputs (no
#     temporary file), the input folder is unchanged,
#   - no leak: the process's resident memory (VmRSS from /proc) when the run ends is within
#     10% of what it was after the first 50 files, and its open file count does not grow,
# and prints the figures. Usage:
#   scripts/soak.sh [N] [WxH]
# Environment: BIN (default target/release/wgpu-restore, built if missing), MODEL (default:
# the embedded model), PYTHON (default training/.venv/bin/python), KEEP=1 keeps the folder.
# Runs under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
SIZE=${2:-48x32}
[ "$N" -ge 100 ] || { echo "N must be at least 100 (RSS is compared after 50 files)"; exit 2; }
W=${SIZE%x*}
H=${SIZE#*x}
PYTHON=${PYTHON:-training/.venv/bin/python}
BIN=${BIN:-target/release/wgpu-restore}
if [ ! -x "$BIN" ]; then
    nice -n 19 cargo build --release --locked
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
work=$(mktemp -d /tmp/wgpu-restore-soak.XXXXXX)
if [ "${KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$work"' EXIT
fi
in="$work/in"
out="$work/out"

# Inputs: every 20th file is corrupt (5%), each of another kind of damage.
"$PYTHON" - "$in" "$N" "$W" "$H" <<'PY'
import io, os, sys
import numpy as np
from PIL import Image
root, n, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(root)
rng = np.random.default_rng(0)
formats = [("png", "PNG", {}), ("jpg", "JPEG", {"quality": 90}), ("tif", "TIFF", {}), ("webp", "WEBP", {"lossless": True})]
bad = good = 0
for i in range(n):
    # Corrupt files are every 20th; their format cycles on its own, so each kind of damage
    # meets each format (i % 4 alone would make every corrupt file a WebP).
    bad_file = i % 20 == 19
    ext, fmt, kw = formats[(i // 20 if bad_file else i) % len(formats)]
    img = Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    data = b.getvalue()
    if bad_file:
        kind = (i // 20) % 5
        data = [data[: len(data) // 2],               # truncated
                data[:16] + bytes(len(data) - 16),     # zeroed after the signature
                b"",                                   # empty
                os.urandom(len(data)),                 # noise with an image extension
                data[:8] + b"\xff" * 64][kind]         # a signature and garbage
        name = f"bad{i:05d}.{ext}"
        bad += 1
    else:
        name = f"img{i:05d}.{ext}"
        good += 1
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
print(f"inputs: {good} good, {bad} corrupt, {w}x{h}")
PY
(cd "$in" && ls -lA --time-style=+%s) > "$work/in.before"

model_args=()
if [ -n "${MODEL:-}" ]; then model_args=(--model "$MODEL"); fi
start=$(date +%s.%N)
nice -n 19 "$BIN" restore "$in" -o "$out" "${model_args[@]}" 2> "$work/log" &
pid=$!
rss50="" fds50="" rss_last=0 fds_last=0 peak=0 count=0
# Sample every 0.2 s while the run lasts: VmRSS, open files, outputs written so far.
while kill -0 "$pid" 2> /dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
    fds=$(ls "/proc/$pid/fd" 2> /dev/null | wc -l || true)
    count=$(ls "$out" 2> /dev/null | wc -l || true)
    if [ -n "$rss" ]; then
        rss_last=$rss fds_last=$fds
        [ "$rss" -gt "$peak" ] && peak=$rss
        if [ -z "$rss50" ] && [ "$count" -ge 50 ]; then rss50=$rss fds50=$fds; fi
    fi
    sleep 0.2
done
set +e
wait "$pid"
rc=$?
set -e
secs=$(echo "$(date +%s.%N) - $start" | bc)

fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
check '[ "$rc" -eq 1 ]' "exit status $rc, expected 1 (some files are corrupt)"
# Every bad file named; every good one written and decodable at its size; nothing else.
missing=0
for f in "$in"/bad*; do
    grep -qF "error: $f: " "$work/log" || { echo "not reported: $f"; missing=$((missing + 1)); }
done
check '[ "$missing" -eq 0 ]' "$missing corrupt file(s) not named in an error line"
"$PYTHON" - "$in" "$out" "$W" "$H" <<'PY' || fail=1
import os, sys
from PIL import Image
src, dst, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
want = sorted(f for f in os.listdir(src) if f.startswith("img"))
have = sorted(os.listdir(dst))
bad = [f for f in want if f not in have] + [f"unexpected {f}" for f in have if f not in want]
for f in want:
    if f in have:
        try:
            with Image.open(os.path.join(dst, f)) as im:
                if im.size != (w, h):
                    bad.append(f"{f}: {im.size}")
                im.load()
        except Exception as e:
            bad.append(f"{f}: {e}")
print(f"outputs: {len(have)} files, {len(want)} expected, {len(bad)} problem(s)")
for b in bad[:10]:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
(cd "$in" && ls -lA --time-style=+%s) > "$work/in.after"
check 'cmp -s "$work/in.before" "$work/in.after"' "the input folder changed"
if [ -n "$rss50" ]; then
    growth=$(echo "scale=1; 100 * ($rss_last - $rss50) / $rss50" | bc)
    check '[ "$(echo "$growth <= 10" | bc)" -eq 1 ]' "RSS grew by $growth% (more than 10%)"
    check '[ "$fds_last" -le "$fds50" ]' "open files grew from $fds50 to $fds_last"
else
    growth="?"
    check false "the run ended before 50 outputs were written: no memory figure to compare"
fi

echo "soak: $N images of ${W}x${H} in $secs s ($(echo "scale=2; $N / $secs" | bc) images/s), exit $rc"
echo "soak: $(grep -c '^error: ' "$work/log") error lines; $(grep -m1 '^restored ' "$work/log")"
echo "soak: RSS after 50 files ${rss50} KiB, at the end ${rss_last} KiB (${growth}%), peak ${peak} KiB; open files ${fds50} -> ${fds_last}"
if [ "$fail" -ne 0 ]; then
    echo "soak: FAILED (log: $work/log)"
    trap - EXIT
    exit 1
fi
echo "soak: passed"
