"""training/bench_torch.py: the PyTorch side of scripts/gpu_bench.sh."""

import json
import subprocess
import sys

import pytest
import torch

from training.fixtures import ROOT

SCRIPT = ROOT / "training" / "bench_torch.py"
TINY = ROOT / "tests" / "fixtures" / "tiny.safetensors"


def bench(*args):
    return subprocess.run([sys.executable, str(SCRIPT), str(TINY), "--repeat", "2", "--threads", "1", *args],
                          capture_output=True, text=True)


def test_one_line_per_dtype_and_size():
    r = bench("--size", "16x24", "--size", "20x12", "--dtype", "f32", "--dtype", "f16")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["dtype"], x["size"]) for x in rows] == [("f32", [16, 24]), ("f32", [20, 12]), ("f16", [16, 24]), ("f16", [20, 12])]
    for x in rows:
        assert x["device"] == "cpu" and x["runs"] == 2 and x["classify_s"] > 0
        assert 0 < x["restore_min_s"] <= x["restore_s"] and x["restore_min_s"] <= x["restore_mean_s"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_usage_error():
    r = bench("--device", "cuda")
    assert r.returncode == 2 and "PyTorch sees no CUDA device" in r.stderr


def test_a_size_that_is_not_hxw_is_a_usage_error():
    r = bench("--size", "16x")
    assert r.returncode == 2 and "`16x` is not HxW" in r.stderr
