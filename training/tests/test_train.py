"""training/train.py: the loss, one-part training, checkpoints and resuming (tiny config, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from training import train as T
from training.data import TRAIN_FOLDERS


def test_restoration_losses_are_l1_and_mse():
    clean = torch.zeros(1, 3, 4, 4)
    restored = clean.clone()
    restored[0, 0, 0, 0] = 0.5  # one wrong pixel out of 48 values
    l1, mse, _ = T.restoration_losses(restored, clean)
    assert l1.item() == pytest.approx(0.5 / 48)
    assert mse.item() == pytest.approx(0.25 / 48)


def test_psnr_term_is_minus_the_mean_patch_psnr_and_weighs_patches_by_relative_error():
    """--psnr-weight: the term is minus the mean PSNR (dB) over the patches, with the 1e-4
    floor, and a patch with small errors (sigma 15) pulls harder on the output than one
    with large errors (sigma 50), where the MSE term does the opposite."""
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 16, 16)
    errors = torch.randn(2, 3, 16, 16) * torch.tensor([15.0, 50.0]).view(2, 1, 1, 1) / 255
    restored = (clean + errors).requires_grad_(True)
    _, mse, psnr_term = T.restoration_losses(restored, clean)
    per_patch = errors.pow(2).flatten(1).mean(1)
    want = -np.mean([10 * np.log10(1.0 / (m + T.PSNR_TERM_FLOOR)) for m in per_patch.tolist()])
    assert psnr_term.item() == pytest.approx(want, rel=1e-5)
    for term, low_noise_counts_more in ((psnr_term, True), (mse, False)):
        (grad,) = torch.autograd.grad(term, restored, retain_graph=True)
        pull = grad.flatten(1).norm(dim=1)  # per patch
        assert (pull[0] > pull[1]).item() == low_noise_counts_more, (term, pull)


def test_mse_term_rewards_removing_an_uncertain_streak():
    """Why --mse-weight exists: a pixel that is a bright streak in 30% of the samples that
    look alike. L1's gradient at "leave it alone" points against removing it (the median
    is the input), the squared term's points toward removing 30% of it."""
    rainy = torch.tensor([0.3] * 3 + [0.0] * 7)  # input minus clean: a streak in 3 of 10
    clean = torch.zeros(10)
    for w, sign in ((0.0, +1), (20.0, -1)):
        correction = torch.tensor(0.01, requires_grad=True)  # what the net subtracts, just begun
        l1, mse, _ = T.restoration_losses(rainy - correction, clean)
        (l1 + w * mse).backward()
        # a negative gradient means that subtracting more lowers the loss
        assert np.sign(correction.grad.item()) == sign, (w, correction.grad)


def write_train_root(root, n=2, size=40):
    rng = np.random.default_rng(0)
    for folder in TRAIN_FOLDERS:
        (root / folder).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), np.uint8)).save(root / folder / f"{i}.png")


def run(tmp_path, out, *extra):
    T.main(["--config", "tiny", "--out", str(out), "--data-root", str(tmp_path / "data"), "--batch", "2",
            "--patch", "32", "--val-every", "1000", "--ckpt-every", "2", "--valsets", str(tmp_path / "none"),
            "--threads", "1", *extra])
    return torch.load(out / "last.pt", map_location="cpu", weights_only=False)


def changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix) and before[k].is_floating_point())


def test_train_part_prompt_leaves_restorer_alone_and_resume_continues(tmp_path):
    write_train_root(tmp_path / "data")
    first = run(tmp_path, tmp_path / "all", "--iters", "4", "--stop-after", "2", "--mse-weight", "20",
                "--psnr-weight", "0.02")
    assert first["iteration"] == 2 and first["args"]["mse_weight"] == 20.0 and first["args"]["psnr_weight"] == 0.02
    log = [json.loads(line) for line in (tmp_path / "all" / "log.jsonl").read_text().splitlines()]
    assert log == []  # the loss is logged every 50 iterations; 2 were run
    # resuming from <out>/last.pt continues the same schedule to its end
    second = run(tmp_path, tmp_path / "all")
    assert second["iteration"] == 4 and "opt" in second and second["args"]["psnr_weight"] == 0.02  # kept on resume
    assert changed(first["model"], second["model"], "restorer.")
    assert changed(first["model"], second["model"], "prompt_net.")

    compact = tmp_path / "compact.pt"
    T.main(["--out", str(tmp_path / "all"), "--save-compact", str(compact)])
    third = run(tmp_path, tmp_path / "prompt", "--init", str(compact), "--fresh-schedule", "2", "--part", "prompt")
    assert third["iteration"] == 6 and third["args"]["sched_start"] == 4 and third["args"]["iters"] == 6
    assert not changed(second["model"], third["model"], "restorer.")
    assert changed(second["model"], third["model"], "prompt_net.")


def test_channels_last_computes_the_same_loss_and_gradients():
    """--channels-last (the default) only changes the memory layout: the tiny model in NHWC
    gives the loss and gradients of the NCHW model, window padding and odd windows included."""
    from training.model import AllInOne, get_config

    torch.manual_seed(0)
    deg, clean = torch.rand(2, 3, 36, 44), torch.rand(2, 3, 36, 44)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    results = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        torch.manual_seed(1)
        model = AllInOne(get_config("tiny")).to(memory_format=fmt)
        x = deg.contiguous(memory_format=fmt)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(model.prompt_net.logits(x), labels)
        l1, mse, psnr_term = T.restoration_losses(model.restorer(x, labels), clean)
        loss = l1 + 20 * mse + 0.02 * psnr_term + bce
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_b.item() == pytest.approx(loss_a.item(), rel=1e-5)
    assert grads_a.keys() == grads_b.keys()
    for name, g in grads_a.items():
        torch.testing.assert_close(grads_b[name], g, rtol=1e-3, atol=1e-5, msg=name)


def test_workers_synthesize_the_batches_and_time_limit_stops_with_a_checkpoint(tmp_path):
    """--workers moves synthesis into DataLoader processes (the run still trains and
    checkpoints); --time-limit 0.001 stops after the first iteration, well before --iters."""
    write_train_root(tmp_path / "data")
    ck = run(tmp_path, tmp_path / "w", "--iters", "50", "--workers", "2", "--time-limit", "0.001")
    assert ck["iteration"] == 1 and ck["args"]["iters"] == 50 and ck["args"]["workers"] == 2
    # and resuming picks the same schedule up again
    ck = run(tmp_path, tmp_path / "w", "--workers", "1", "--stop-after", "2")
    assert ck["iteration"] == 3 and ck["args"]["iters"] == 50


def test_part_restorer_keeps_the_prompt_net_exactly_and_ema_goes_into_the_compact_checkpoint(tmp_path):
    """--part restorer trains the restorer alone against the frozen Prompt Net in eval mode
    (its BatchNorm statistics stay put too); --ema keeps an average that resumes with the
    run and that --save-compact writes as the weights."""
    write_train_root(tmp_path / "data")
    run(tmp_path, tmp_path / "all", "--iters", "2")
    init = tmp_path / "init.pt"
    T.main(["--out", str(tmp_path / "all"), "--save-compact", str(init)])
    start = torch.load(init, map_location="cpu", weights_only=False)

    first = run(tmp_path, tmp_path / "r", "--init", str(init), "--fresh-schedule", "6", "--stop-after", "3",
                "--part", "restorer", "--ema", "0.5", "--mse-weight", "20")
    model, ema = first["model"], first["ema"]
    assert first["iteration"] == 5 and first["ema_steps"] == 3
    assert not changed(start["model"], model, "prompt_net.")  # weights and running statistics
    assert changed(start["model"], model, "restorer.")
    assert all(torch.equal(ema[k], model[k].float()) for k in ema if k.startswith("prompt_net."))
    assert any(not torch.equal(ema[k], model[k]) for k in ema if k.startswith("restorer."))

    second = run(tmp_path, tmp_path / "r")  # resumes the average with the run
    assert second["iteration"] == 8 and second["ema_steps"] == 6
    compact = tmp_path / "compact.pt"
    T.main(["--out", str(tmp_path / "r"), "--save-compact", str(compact)])
    c = torch.load(compact, map_location="cpu", weights_only=False)
    assert "ema" not in c and "opt" not in c and c["provenance"]["ema_decay"] == 0.5
    for k, v in c["model"].items():
        expect = second["ema"][k].to(v.dtype) if k in second["ema"] else second["model"][k]
        assert torch.equal(v, expect), k


def test_weight_average_follows_the_decay():
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    avg = T.WeightAverage(net, decay=0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
    avg.update(net)  # first step: decay min(0.9, 1/10) = 0.1 -> 0.9 of the way
    assert avg.state["weight"].item() == pytest.approx(0.9)
    for _ in range(200):
        avg.update(net)
    assert avg.state["weight"].item() == pytest.approx(1.0, abs=1e-6)


def test_decoys_tell_the_restorer_rain_is_absent(tmp_path, monkeypatch):
    """A decoy sample's streaks are content (data.add_decoy): whatever the Prompt Net makes
    of them, the restorer is given rain = 0 for it, and the other types' probabilities."""
    from training import model as M

    seen = []
    forward = M.Restorer.forward

    def spy(self, img, probs):
        seen.append(probs.detach().clone())
        return forward(self, img, probs)

    monkeypatch.setattr(M.Restorer, "forward", spy)
    write_train_root(tmp_path / "data", size=48)
    # Every sample is a decoy: noise only or clean, never rain.
    run(tmp_path, tmp_path / "d", "--iters", "3", "--part", "restorer", "--gt-label-share", "0",
        "--mix", "clean=0.5,single=0.5,pair=0,triple=0,noise=1,rain=0,haze=0,decoy=1")
    assert len(seen) == 3
    probs = torch.cat(seen)
    assert torch.all(probs[:, 1] == 0)
    later = torch.cat(seen[1:])  # iteration 0 still gives every sample its labels
    assert torch.all((later[:, 0] > 0) & (later[:, 0] < 1))  # the Prompt Net's own guesses
    # Without decoys the restorer gets the Prompt Net's rain probability as it is.
    seen.clear()
    run(tmp_path, tmp_path / "n", "--iters", "2", "--part", "restorer", "--gt-label-share", "0",
        "--mix", "clean=0.5,single=0.5,pair=0,triple=0,noise=1,rain=0,haze=0")
    assert torch.all(torch.cat(seen[1:])[:, 1] > 0)


def test_save_compact_without_a_run_is_a_clear_error(tmp_path, capsys):
    """--save-compact is its own mode; added to a fresh training command it must say why
    it stops instead of raising FileNotFoundError out of torch.load."""
    with pytest.raises(SystemExit) as stop:
        T.main(["--out", str(tmp_path / "none"), "--save-compact", str(tmp_path / "c.pt")])
    assert stop.value.code == 2
    assert "compacts an existing run" in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists()


def test_repeating_a_fresh_schedule_command_resumes_its_schedule(tmp_path):
    """The documented way to resume a run is to repeat its command. For a run started with
    --init and --fresh-schedule N, that must continue the same schedule (same start, same
    end, no second warm-up), not begin N new iterations from wherever it stopped; a
    different N does start a new schedule."""
    write_train_root(tmp_path / "data")
    run(tmp_path, tmp_path / "all", "--iters", "2")
    init = tmp_path / "init.pt"
    T.main(["--out", str(tmp_path / "all"), "--save-compact", str(init)])
    command = ("--init", str(init), "--fresh-schedule", "6", "--stop-after", "2")

    first = run(tmp_path, tmp_path / "r", *command)
    assert first["iteration"] == 4
    assert (first["args"]["sched_start"], first["args"]["iters"]) == (2, 8)
    second = run(tmp_path, tmp_path / "r", *command)
    assert second["iteration"] == 6
    assert (second["args"]["sched_start"], second["args"]["iters"]) == (2, 8)

    # Resumed once without the flag (recording 0), then with the original command again.
    third = run(tmp_path, tmp_path / "r", "--stop-after", "1")
    assert (third["iteration"], third["args"]["sched_start"], third["args"]["iters"]) == (7, 2, 8)
    fourth = run(tmp_path, tmp_path / "r", *command)
    assert (fourth["iteration"], fourth["args"]["sched_start"], fourth["args"]["iters"]) == (8, 2, 8)

    other = run(tmp_path, tmp_path / "r", "--init", str(init), "--fresh-schedule", "3", "--stop-after", "1")
    assert (other["args"]["sched_start"], other["args"]["iters"]) == (8, 11)


def test_jitter_probs_moves_absent_types_up_and_present_types_down_within_the_span():
    torch.manual_seed(0)
    probs = torch.tensor([[0.9, 0.05, 0.2], [0.99, 0.0, 0.7], [0.1, 0.95, 0.01]]).repeat(200, 1)
    labels = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).repeat(200, 1)
    assert T.jitter_probs(probs, labels, 0.0, 0.6) is probs  # off: no draws, no change
    out = T.jitter_probs(probs, labels, 1.0, 0.6)
    absent, present = labels < 0.5, labels > 0.5
    assert torch.all(out[absent] >= probs[absent]) and torch.all(out[absent] <= torch.clamp(probs[absent], min=0.6))
    assert torch.all(out[present] <= probs[present]) and torch.all(out[present] >= torch.clamp(probs[present], max=0.4))
    assert out[absent].max() > 0.55 and out[present].min() < 0.45  # the whole span is used
    assert out[1::3, 2].eq(torch.clamp(out[1::3, 2], min=0.7)).all()  # a high wrong guess stays as high
    half = T.jitter_probs(probs, labels, 0.5, 0.6)
    rows_changed = (half != probs).any(1).float().mean().item()
    assert 0.4 < rows_changed < 0.6


def test_prob_jitter_reaches_the_restorer_and_is_kept_on_resume(tmp_path, monkeypatch):
    """Every sample a decoy (rain told 0) and every sample jittered: the restorer sees rain
    probabilities spread over [0, span], never above it; the setting survives a resume."""
    from training import model as M

    seen = []
    forward = M.Restorer.forward

    def spy(self, img, probs):
        seen.append(probs.detach().clone())
        return forward(self, img, probs)

    monkeypatch.setattr(M.Restorer, "forward", spy)
    write_train_root(tmp_path / "data", size=48)
    mix = "clean=0.5,single=0.5,pair=0,triple=0,noise=1,rain=0,haze=0,decoy=1"
    ck = run(tmp_path, tmp_path / "j", "--iters", "6", "--stop-after", "4", "--part", "restorer",
             "--gt-label-share", "0", "--mix", mix, "--prob-jitter", "1", "--jitter-span", "0.6")
    rain = torch.cat(seen)[:, 1]
    assert torch.all((rain >= 0) & (rain <= 0.6)) and rain.max() > 0.05
    assert (ck["args"]["prob_jitter"], ck["args"]["jitter_span"]) == (1.0, 0.6)
    seen.clear()
    resumed = run(tmp_path, tmp_path / "j")
    assert resumed["iteration"] == 6 and resumed["args"]["prob_jitter"] == 1.0
    assert torch.cat(seen)[:, 1].max() > 0.05
