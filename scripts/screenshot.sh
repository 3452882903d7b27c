#!/usr/bin/env bash
# Screenshot of the real app window under Xvfb: starts wgpu-restore-app on an image, waits
# until the image is restored, captures the screen with ImageMagick, closes the app.
#
#   scripts/screenshot.sh [IMAGE] [OUTPUT] [MORE_IMAGES...]
#
# Defaults: assets/samples/rainy.png, docs/screenshot.png. MORE_IMAGES are queued after
# IMAGE and the capture waits until every image is restored; the app prints each restore
# time (give the same image twice to see a cold and a warm time: the first restore at a
# size also creates the GPU pipelines).
#
# Environment: PROFILE (cargo profile, default release), TIMEOUT (seconds, default 600),
# APP_ARGS (extra arguments for the app, e.g. "--model m.safetensors").
# Needs: xvfb-run, import (apt: xvfb imagemagick).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-assets/samples/rainy.png}
OUT=${2:-docs/screenshot.png}
shift $(( $# < 2 ? $# : 2 ))
MORE="$*"
COUNT=$(( 1 + $# ))
PROFILE=${PROFILE:-release}
TIMEOUT=${TIMEOUT:-600}
for tool in xvfb-run import; do
    command -v "$tool" >/dev/null || { echo "error: $tool missing (apt-get install xvfb imagemagick)" >&2; exit 1; }
done
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
cargo build -p wgpu-restore-app --profile "$PROFILE"
case "$PROFILE" in dev) DIR=debug ;; *) DIR=$PROFILE ;; esac
BIN=$PWD/target/$DIR/wgpu-restore-app
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Keep the user's settings out of it.
export WGPU_RESTORE_APP_CONFIG=$WORK/app.json
export BIN IMAGE OUT TIMEOUT WORK MORE COUNT APP_ARGS=${APP_ARGS:-}
xvfb-run -a -s '-screen 0 1280x800x24' bash -c '
    set -u
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$BIN" --log-timings $APP_ARGS "$IMAGE" $MORE 2> "$WORK/log" &
    pid=$!
    status=1
    for _ in $(seq 1 "$TIMEOUT"); do
        if [ "$(grep -c "restored in" "$WORK/log")" -ge "$COUNT" ]; then status=0; break; fi
        if ! kill -0 "$pid" 2>/dev/null; then echo "error: the app exited" >&2; break; fi
        sleep 1
    done
    sleep 2   # let the window repaint with the result
    import -window root "$OUT"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    end=$(date +%s.%N)
    echo "app ran $(echo "$end - $start" | bc) s under Xvfb"
    exit $status
' || { echo "error: no restored image within $TIMEOUT s; log:" >&2; cat "$WORK/log" >&2; exit 1; }
grep -v "^$" "$WORK/log" | grep -iv "warn.*xdg\|MESA-LOADER" || true
echo "wrote $OUT"
