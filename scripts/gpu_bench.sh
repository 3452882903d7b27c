#!/usr/bin/env bash
# wgpu-restore against PyTorch eager on one machine's GPU: which adapters wgpu sees there
# (Vulkan through the vendor's driver, or only software), then `wgpu-restore bench`
# (--precision f32 and f16) and training/bench_torch.py (PyTorch eager, f32 and f16) on the
# same weights, for the `small` config (the embedded model's file) and the `paper` config
# (seeded random weights exported on the spot), at 481x321 and 2 MP, and the ratios.
# Smaller sizes run first, and every step has a time limit inside BUDGET_S, so that a
# machine rented by the minute gives what fits in 10 minutes.
#
# The GPU machine needs no Rust toolchain and no network: it takes a binary built
# elsewhere (BIN) and the PyTorch already installed there (python3 with torch and
# safetensors), and the Vulkan loader brought as .deb files in .gl/, unpacked into / here
# when no libvulkan is installed (an NVIDIA driver ships its Vulkan driver, not the loader).
# Prepare once, in the repository root of an x86-64 Debian/Ubuntu machine:
#
#   cargo build --release
#   echo /.gl/ >>.git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update; (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#
# then on the GPU machine, from the repository root with .gl/ and the binary copied in:
#
#   bash scripts/gpu_bench.sh
#
# With OUT set, the log is $OUT/gpu_bench.log and every measurement one JSON line of
# $OUT/gpu_bench.jsonl (the wgpu lines with their per-op GPU times); without it both stay in
# the scratch folder WORK. The whole run ends within BUDGET_S (540 s by default).
#
# A short dry run on a machine without a GPU (wgpu on lavapipe, PyTorch on the CPU; about a
# minute on two cores; the `paper` config takes several minutes per size there). One thread
# each (LP_NUM_THREADS is lavapipe's): on a machine busy with other work, PyTorch's threads
# wait on each other at every op and its times grow many-fold (seen: 2 s instead of 0.08 s).
#
#   DEVICE=cpu CONFIGS=small SIZES="32x24 48x32" RUNS=2 TORCH_THREADS=1 LP_NUM_THREADS=1 \
#     bash scripts/gpu_bench.sh
#
# Settings (environment): DEVICE cuda|cpu (PyTorch's device; with cuda, wgpu must find a
# hardware GPU or its timings are skipped), BIN, PY (python with torch), SIZES (WxH ...),
# CONFIGS (small paper), PRECISIONS (wgpu's: f32 f16), TORCH_PRECISIONS (PyTorch's: those of
# PRECISIONS on cuda, f32 on the CPU, where PyTorch's f16 is emulated and many times
# slower), TORCH_THREADS (PyTorch's CPU threads), RUNS (timed runs after one warm-up),
# BACKEND (vulkan), BUDGET_S (whole run), STEP_S (one step), WORK (scratch folder).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
BIN=${BIN:-target/release/wgpu-restore}
if [ -z "${PY:-}" ]; then
  PY=python3
  [ -x training/.venv/bin/python ] && PY=training/.venv/bin/python
fi
SIZES=${SIZES:-"481x321 1732x1155"}
CONFIGS=${CONFIGS:-"small paper"}
PRECISIONS=${PRECISIONS:-"f32 f16"}
if [ "$DEVICE" = cpu ]; then TORCH_PRECISIONS=${TORCH_PRECISIONS:-f32}; fi
TORCH_PRECISIONS=${TORCH_PRECISIONS:-$PRECISIONS}
TORCH_THREADS=${TORCH_THREADS:-0}
RUNS=${RUNS:-5}
BACKEND=${BACKEND:-vulkan}
BUDGET_S=${BUDGET_S:-540}
STEP_S=${STEP_S:-150}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-bench.XXXXXX")}
export PYTHONUNBUFFERED=1
mkdir -p "$WORK"
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$WORK/xdg" && mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
RESULTS="${OUT:-$WORK}/gpu_bench.jsonl"
mkdir -p "${OUT:-$WORK}"
: >"$RESULTS"
SECONDS=0

say() { printf '[%4ds] %s\n' "$SECONDS" "$*"; }
die() { say "error: $*"; exit 1; }

[ -x "$BIN" ] || die "$BIN: no wgpu-restore binary (build it with cargo build --release, or set BIN)"
"$PY" -c 'import torch, safetensors' 2>/dev/null || die "$PY: cannot import torch and safetensors (set PY)"
for size in $SIZES; do
  [[ $size =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "SIZES: \`$size\` is not WxH (e.g. 481x321)"
done
known=$("$PY" -c 'from training.model import CONFIGS; print(" ".join(CONFIGS))' 2>/dev/null) ||
  die "$PY: cannot import training.model"
for cfg in $CONFIGS; do
  [[ " $known " == *" $cfg "* ]] || die "CONFIGS: \`$cfg\` is not a model config ($known)"
done
case "$DEVICE" in cpu | cuda | cuda:[0-9]*) ;; *) die "DEVICE: \`$DEVICE\` is not cpu, cuda or cuda:N" ;; esac

# A step's time limit: STEP_S, or what is left of BUDGET_S; 0 when too little is left.
limit() {
  local left=$((BUDGET_S - SECONDS))
  if [ "$left" -lt 15 ]; then echo 0; elif [ "$left" -lt "$STEP_S" ]; then echo "$left"; else echo "$STEP_S"; fi
}

# Reports a step that failed with exit status $1 (124: stopped at its time limit).
failed() {
  if [ "$1" = 124 ] || [ "$1" = 137 ]; then
    say "stopped at its time limit"
  else
    say "failed (exit $1): $(tail -n 2 "$WORK/err" | tr '\n' ' ')"
  fi
}

# Appends each JSON document of stdin to the results, compacted, with FIELDS added.
record() {
  "$PY" -c '
import json, sys
extra = json.loads(sys.argv[1])
text = sys.stdin.read()
dec, i = json.JSONDecoder(), 0
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    doc, i = dec.raw_decode(text, i)
    print(json.dumps({**extra, **doc}))
' "$1" >>"$RESULTS"
}

main() {
# ---- the adapters wgpu sees
if [ -d .gl ] && ls .gl/*.deb >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  say "no Vulkan loader installed: unpacking .gl/*.deb into /"
  for f in .gl/*.deb; do dpkg -x "$f" / || die "dpkg -x $f failed"; done
  ldconfig
fi
if [ "$DEVICE" != cpu ] && command -v nvidia-smi >/dev/null; then
  say "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4 | tr '\n' ';')"
fi

# "hardware NAME" when the backend has a GPU adapter, "software NAME" when only a CPU one,
# "none" when none.
adapter_kind() {
  "$BIN" info --backend "$BACKEND" --json 2>/dev/null | "$PY" -c '
import json, sys
try:
    a = json.load(sys.stdin)["adapters"]
except Exception:
    a = []
hw = [x for x in a if x["compute"] and not x["software"]]
sw = [x for x in a if x["compute"] and x["software"]]
print("hardware " + hw[0]["name"] if hw else "software " + sw[0]["name"] if sw else "none")
'
}
kind=$(adapter_kind)
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ "${kind%% *}" != hardware ] && [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then
  say "no GPU adapter on $BACKEND: pointing the loader at $nvidia_icd"
  export VK_DRIVER_FILES=$nvidia_icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  kind=$(adapter_kind)
fi
say "adapters wgpu sees (all backends):"
"$BIN" info 2>&1 | sed -n '1,/^model:/p' | sed '$d'
run_wgpu=1
case "$kind" in
  hardware*) say "wgpu: a GPU through $BACKEND: ${kind#hardware }" ;;
  software*)
    say "wgpu: only the software adapter ${kind#software } on $BACKEND (no GPU driver found)"
    [ "$DEVICE" = cpu ] || { run_wgpu=0; say "wgpu timings skipped: they would be the CPU's, not the GPU's"; } ;;
  *) run_wgpu=0; say "wgpu: no adapter on $BACKEND; wgpu timings skipped" ;;
esac

# ---- the models
declare -A MODEL
for cfg in $CONFIGS; do
  case "$cfg" in
    small) MODEL[small]=assets/models/allinone-small.safetensors ;;
    *)
      MODEL[$cfg]="$WORK/$cfg-random-f16.safetensors"
      "$PY" training/export.py --random "$cfg" --seed 0 --f16 "${MODEL[$cfg]}" >/dev/null ||
        die "could not export random weights of config $cfg"
      say "exported seeded random weights of config $cfg ($(du -h "${MODEL[$cfg]}" | cut -f1))"
      ;;
  esac
done

# ---- the timings, smallest size first
dtypes=()
for p in $TORCH_PRECISIONS; do dtypes+=(--dtype "$p"); done
for size in $SIZES; do
  w=${size%x*} h=${size#*x}
  for cfg in $CONFIGS; do
    m=${MODEL[$cfg]}
    if [ "$run_wgpu" = 1 ]; then
      for p in $PRECISIONS; do
        t=$(limit)
        [ "$t" -gt 0 ] || { say "skipped wgpu $cfg $size $p: out of time"; continue; }
        say "wgpu-restore bench: $cfg ${w}x$h --precision $p (limit ${t} s)"
        if out=$(timeout -k 5 "$t" "$BIN" bench --model "$m" --size "${w}x$h" --runs "$RUNS" --json \
          --backend "$BACKEND" --precision "$p" 2>"$WORK/err"); then
          record "{\"tool\": \"wgpu\", \"config\": \"$cfg\", \"precision\": \"$p\"}" <<<"$out"
        else
          failed $?
        fi
      done
    fi
    t=$(limit)
    [ "$t" -gt 0 ] || { say "skipped PyTorch $cfg $size: out of time"; continue; }
    say "PyTorch eager on $DEVICE: $cfg ${w}x$h ${TORCH_PRECISIONS} (limit ${t} s)"
    if out=$(timeout -k 5 "$t" "$PY" training/bench_torch.py "$m" --device "$DEVICE" --size "${h}x$w" \
      "${dtypes[@]}" --repeat "$RUNS" --threads "$TORCH_THREADS" 2>"$WORK/err"); then
      record "{\"tool\": \"torch\", \"config\": \"$cfg\"}" <<<"$out"
    else
      failed $?
    fi
  done
done

# ---- the table: seconds of `restore` (one forward, image from and back to host memory)
# The fastest run: on a machine shared with other work the mean measures the others too.
say "results (fastest restore of $RUNS runs after a warm-up, seconds; ratio = wgpu / PyTorch, above 1: wgpu slower):"
"$PY" - "$RESULTS" "$PRECISIONS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
precisions = sys.argv[2].split()
t = {}
for r in rows:
    if r["tool"] == "wgpu":
        key = (r["config"], r["width"], r["height"], "wgpu", r["precision"])
        t[key] = r["restore_s"]["min"]
        t[key[:3] + ("device",)] = f'{r["device"]} ({r["backend"]})'
    else:
        h, w = r["size"]
        t[(r["config"], w, h, "torch", r["dtype"])] = r["restore_min_s"]
        t[(r["config"], w, h, "torch-device")] = r["device"]
cases = sorted({k[:3] for k in t}, key=lambda k: (k[1] * k[2], k[0]))
head = ["config", "size"]
for p in precisions:
    head += [f"wgpu {p}", f"torch {p}", f"ratio {p}"]
print("  ".join(f"{h:>12}" for h in head))
fmt = lambda v: "-" if v is None else f"{v:.4f}"
for c in cases:
    line = [c[0], f"{c[1]}x{c[2]}"]
    for p in precisions:
        a, b = t.get(c + ("wgpu", p)), t.get(c + ("torch", p))
        line += [fmt(a), fmt(b), "-" if a is None or b is None else f"{a / b:.2f}x"]
    print("  ".join(f"{v:>12}" for v in line))
devices = sorted({v for k, v in t.items() if k[-1] in ("device", "torch-device")})
print("devices: " + "; ".join(devices))
EOF
say "done; results in $RESULTS"
}

# The log is written as it goes, so that a run stopped from outside leaves it.
main 2>&1 | tee "${OUT:-$WORK}/gpu_bench.log"
