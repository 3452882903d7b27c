#!/usr/bin/env bash
# A time-limited GPU run: training that ends, with its weights saved, inside a fixed number
# of seconds (docs/training.md). Run from the repository root, on the GPU machine:
#
#   BUDGET=480 bash scripts/device_train.sh        # needs data-cache/ (training/pack_data.py)
#
# 1. Calibrate: 100 iterations at each batch size of CAL_BATCHES, timed from the loss log
#    (iterations 50-100, so start-up and cuDNN's kernel search are not counted).
# 2. Pick the largest batch whose step costs less than 1.4x the smallest one's per
#    iteration (a bigger batch that is nearly free per step is more samples for the
#    same schedule), and size a fresh warm-up + cosine schedule to the seconds left, so
#    the learning rate reaches 0 inside the budget. --time-limit guards the end.
# 3. Save the weights (their moving average when EMA > 0; no optimizer state) to $OUT in
#    parts under the 16 MiB a returned file may have; here: cat gpu.pt.part* > gpu.pt.
# KNOWN=batch:s_per_iter:startup_s (measured by an earlier run on the same kind of GPU,
# e.g. KNOWN=128:0.358:52 for the small config on an H100) skips step 1: its 100
# iterations and start-up cost 85 s per batch size.
# DEVICE=cpu with a tiny INIT and small CAL_BATCHES dry-runs the whole script on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-480}
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-data-cache}
INIT=${INIT:-training/checkpoints/small.pt}
WORKERS=${WORKERS:-12}
LR=${LR:-3e-4}
CAL_BATCHES=${CAL_BATCHES:-128}  # batch 256 of 128x128 did not fit in an H100's 80 GB
KNOWN=${KNOWN:-}
PATCH=${PATCH:-128}
EMA=${EMA:-0.999}    # weight average; gpu.pt holds it (0: off)
PART=${PART:-all}    # all: restorer and Prompt Net; restorer: the Prompt Net of INIT kept frozen
MARGIN=${MARGIN:-45}  # start-up of the main run and saving, seconds
PY=${PY:-python3}
OUT=${OUT:-training/runs/device-out}
WORK=${WORK:-/tmp/device-train}
MIX=${MIX:-"clean=0.15,single=0.6,pair=0.2,triple=0.05,noise=1.1,rain=2.5,haze=0.8"}
export PYTHONUNBUFFERED=1
t_start=$(date +%s)
mkdir -p "$OUT" "$WORK"
rm -rf "$WORK"/cal-* "$WORK"/main

common=(--device "$DEVICE" --bf16 --data-root "$DATA" --init "$INIT" --patch "$PATCH" --mse-weight 20
  --mix "$MIX" --warmup 0.05 --lr "$LR" --workers "$WORKERS" --ema "$EMA" --part "$PART" --val-every 100000000
  --valsets "$WORK/no-valsets" --ckpt-every 100000000)

# A batch that fails (out of memory: batch 256 filled the H100's 80 GB on 2026-12-06) is
# left out of the plan; its last lines say why.
[ -n "$KNOWN" ] && CAL_BATCHES=""
for b in $CAL_BATCHES; do
  $PY training/train.py "${common[@]}" --batch "$b" --out "$WORK/cal-$b" --fresh-schedule 100000 \
    --stop-after 100 --time-limit 90 2>&1 | tr '\r' '\n' | grep -v '^ *$' | tail -n 3 || echo "batch $b: calibration failed"
done

elapsed=$(( $(date +%s) - t_start ))
plan=$($PY - "$WORK" "$BUDGET" "$elapsed" "$MARGIN" "$INIT" "$KNOWN" $CAL_BATCHES <<'EOF'
import json, os, sys
import torch
work, budget, elapsed, margin, init, known, *batches = sys.argv[1:]
init_ck = torch.load(init, map_location="cpu", weights_only=False)
per_iter, startup = {}, {}
if known:
    b, t, s = known.split(":")
    per_iter[int(b)], startup[int(b)] = float(t), float(s)
for b in map(int, batches):
    if not os.path.exists(f"{work}/cal-{b}/last.pt"):
        continue  # train.py saves when it stops, so this batch's calibration failed
    log = [json.loads(l) for l in open(f"{work}/cal-{b}/log.jsonl")]
    walls = [r["wall_s"] for r in log if "l1" in r]
    if len(walls) >= 2:  # iterations 50-100: the steady state
        per_iter[b] = (walls[1] - walls[0]) / 50
        # The first iterations also pay for the loader workers' start and cuDNN's kernel
        # search (52 s on the H100 on 2026-12-06), inside --time-limit's clock.
        startup[b] = max(0.0, walls[0] - init_ck.get("wall_s", 0.0) - 50 * per_iter[b])
    else:  # stopped by its time limit first: the whole run, start-up included (an over-estimate)
        ck = torch.load(f"{work}/cal-{b}/last.pt", map_location="cpu", weights_only=False)
        per_iter[b] = (ck["wall_s"] - init_ck.get("wall_s", 0.0)) / (ck["iteration"] - init_ck["iteration"])
        startup[b] = 0.0
if not per_iter:
    sys.exit("no batch size calibrated; see the errors above")
small = min(per_iter)
batch = max(b for b, t in per_iter.items() if t <= 1.4 * per_iter[small])
seconds = int(budget) - int(elapsed) - int(margin)
iters = max(10, int((seconds - startup[batch]) / per_iter[batch]))
summary = {"s_per_iter": per_iter, "startup_s": startup, "batch": batch, "train_s": seconds, "iters": iters}
json.dump(summary, open(f"{work}/plan.json", "w"))
print(batch, iters, seconds, json.dumps(summary), sep="\t")
EOF
)
IFS=$'\t' read -r batch iters seconds summary <<<"$plan"
echo "plan: $summary"
cp "$WORK/plan.json" "$OUT/plan.json"

$PY training/train.py "${common[@]}" --batch "$batch" --out "$WORK/main" --fresh-schedule "$iters" \
  --time-limit "$((seconds + 15))" --ckpt-every 1000 2>&1 | tr '\r' '\n' | grep -v '^ *$' | awk 'NR % 200 == 1' || true
cp "$WORK/main/log.jsonl" "$OUT/log.jsonl"
$PY training/train.py --out "$WORK/main" --save-compact "$WORK/gpu.pt"
split -b 15000000 -d "$WORK/gpu.pt" "$OUT/gpu.pt.part"
ls -l "$OUT"
echo "device_train: done in $(( $(date +%s) - t_start )) s"
