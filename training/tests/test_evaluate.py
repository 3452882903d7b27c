"""training/evaluate.py: subset selection per source dataset and detection rates."""

import json

import numpy as np
from PIL import Image

from training import evaluate as E
from training.export import export
from training.model import AllInOne, get_config


def test_detection_rates_count_present_types_and_clean_images():
    names = ["noise", "rain", "haze"]
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]], np.float32)
    probs = np.array([[0.9, 0.1, 0.0], [0.4, 0.7, 0.2], [0.1, 0.2, 0.6], [0.5, 0.0, 0.0]])
    # noise present in rows 0, 1, 3 and >= 0.5 in 0 and 3; rain present in 1, 2 and found in 1
    assert E.detection_rates(labels, probs, names) == {"noise": 2 / 3, "rain": 0.5}
    clean = np.zeros((4, 3), np.float32)
    quiet = np.array([[0.1, 0.2, 0.3], [0.49, 0.0, 0.0], [0.0, 0.5, 0.0], [0.2, 0.2, 0.2]])
    assert E.detection_rates(clean, quiet, names) == {"clean_all_below_0.5": 0.75}


def test_spurious_shares_count_absent_types_above_the_threshold():
    names = ["noise", "rain", "haze"]
    labels = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    probs = np.array([[1.0, 0.31, 0.0], [1.0, 0.0, 0.3], [0.9, 0.0, 0.72], [0.35, 0.0, 0.9]])
    got = E.spurious_shares(labels, probs, names)
    # noise absent only in row 3 (0.35); rain absent everywhere, high in row 0; haze absent
    # in rows 0-2, high in row 2 only (0.3 itself is not above the threshold); a present
    # type never counts, however high.
    assert got == {"noise": 1.0, "rain": 0.25, "haze": 1 / 3, "any": 0.75}


def write_valset(folder, names, labels):
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (folder / sub).mkdir(parents=True)
    for n in names:
        for sub in ("input", "target"):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), np.uint8)).save(folder / sub / f"{n}.png")
    items = [{"name": n, "labels": labels} for n in names]
    (folder / "labels.json").write_text(json.dumps({"items": items}))


def test_per_source_subset_reports_each_dataset_and_detection_on_all(tmp_path):
    model = tmp_path / "tiny.safetensors"
    export(AllInOne(get_config("tiny")).eval(), model)
    names = ["kodak24-a", "kodak24-b", "kodak24-c", "mcmaster-a", "mcmaster-b"]
    write_valset(tmp_path / "sets" / "noise25", names, [1.0, 0.0, 0.0])
    out = tmp_path / "eval.json"
    E.main(["--model", str(model), "--valsets", str(tmp_path / "sets"), "--sets", "noise25",
            "--per-source", "1", "--json", str(out)])
    res = json.loads(out.read_text())
    assert [r["name"] for r in res["images"]["noise25"]] == ["kodak24-a", "mcmaster-a"]
    rows = {s["set"].strip(): s for s in res["summary"]}
    assert set(rows) == {"noise25", "kodak24", "mcmaster"}
    assert rows["noise25"]["n"] == 2 and rows["kodak24"]["n"] == 1 and rows["mcmaster"]["n"] == 1
    # detection also runs on every image of the set, not only on the restored subset
    assert rows["noise25"]["detection_all"]["n"] == 5
    assert 0.0 <= rows["noise25"]["detection_all"]["noise"] <= 1.0
    means = [rows[s]["model"]["psnr"] for s in ("kodak24", "mcmaster")]
    assert abs(rows["noise25"]["model"]["psnr"] - np.mean(means)) < 1e-9


def test_spurious_share_is_reported_per_set_and_on_every_image(tmp_path):
    """On a tiny noisy set the table's spurious share is the share of images whose rain or
    haze probability is above 0.3, over the restored images, and over all of them when
    only a subset is restored."""
    model = tmp_path / "tiny.safetensors"
    export(AllInOne(get_config("tiny")).eval(), model)
    names = [f"kodak24-{i}" for i in range(4)]
    write_valset(tmp_path / "sets" / "noise15", names, [1.0, 0.0, 0.0])
    out = tmp_path / "eval.json"
    E.main(["--model", str(model), "--valsets", str(tmp_path / "sets"), "--sets", "noise15", "--json", str(out)])
    res = json.loads(out.read_text())
    probs = np.array([r["probs"] for r in res["images"]["noise15"]])
    s = res["summary"][0]
    assert s["spurious"]["any"] == float(((probs[:, 1] > 0.3) | (probs[:, 2] > 0.3)).mean())
    assert s["spurious"]["haze"] == float((probs[:, 2] > 0.3).mean())
    assert "noise" not in s["spurious"]  # present in every image: never spurious
    E.main(["--model", str(model), "--valsets", str(tmp_path / "sets"), "--sets", "noise15", "--limit", "1",
            "--json", str(out)])
    sub = json.loads(out.read_text())["summary"][0]
    assert sub["n"] == 1 and sub["detection_all"]["n"] == 4
    assert sub["detection_all"]["spurious_any"] == s["spurious"]["any"]
