"""The self-ensemble: symmetry conventions, the choice per degradation, and agreement between the module and the model file."""

import torch

from training.ensemble import SYMMETRIES, apply, invert, self_ensemble
from training.export import export
from training.fixtures import Rng, randomize
from training.graph import FileModel
from training.model import CONFIGS, AllInOne


def test_the_eight_symmetries_are_distinct_and_invert_exactly():
    x = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(0))  # non-square: rotations swap H and W
    seen = []
    for k, mirror in SYMMETRIES:
        y = apply(x, k, mirror)
        assert y.shape[2:] == ((5, 7) if k % 2 == 0 else (7, 5))
        assert torch.equal(invert(y, k, mirror), x)
        assert not any(y.shape == s.shape and torch.equal(y, s) for s in seen)
        seen.append(y)
    assert SYMMETRIES[0] == (0, False)  # the identity first: the Rust runtime sums in this order


def test_rotation_direction_is_counter_clockwise():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)  # [[0 1 2] [3 4 5]]
    assert apply(x, 1, False)[0, 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert apply(x, 0, True)[0, 0].tolist() == [[2, 1, 0], [5, 4, 3]]


def test_ensemble_of_an_equivariant_map_is_the_map_and_of_a_biased_map_is_averaged():
    x = torch.rand(1, 3, 6, 9, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(self_ensemble(lambda t: 2 * t, x), 2 * x)
    # A map that adds a left-to-right ramp: its eight conjugates add the ramp in every
    # direction, so their mean adds the same constant (the ramp's mean) everywhere.
    def ramp(t):
        return t + torch.linspace(0, 1, t.shape[3])

    assert torch.allclose(self_ensemble(ramp, x), x + 0.5, atol=1e-6)


def test_file_model_ensemble_equals_module_ensemble(tmp_path):
    torch.manual_seed(0)
    model = randomize(AllInOne(CONFIGS["tiny"]), Rng(1)).eval()
    export(model, tmp_path / "m.safetensors", {"source": "test"})
    img = torch.rand(1, 3, 19, 26, generator=torch.Generator().manual_seed(2))
    want, p = model.restore(img, ensemble=True)
    got, q = FileModel(tmp_path / "m.safetensors").restore(img, ensemble=True)
    assert torch.equal(p, q) or (p - q).abs().max() <= 1e-6
    assert (got - want).abs().max() <= 1e-6
    single = model.restore(img, p)[0]
    assert (want - single).abs().max() > 1e-4  # random weights are not equivariant: the ensemble changes the output


def test_symmetries_follow_the_degradations_present():
    from training.ensemble import MIRRORS, symmetries_for

    names = ["noise", "rain", "haze"]
    assert symmetries_for(names, [0.0, 0.0, 0.0]) == SYMMETRIES  # clean: all 8
    assert symmetries_for(names, [1.0, 0.49, 0.2]) == SYMMETRIES  # noise alone
    assert symmetries_for(names, [0.9, 0.5, 0.0]) == ((0, False), (0, True), (2, False), (2, True))  # rain
    assert symmetries_for(names, [0.0, 0.0, 0.7]) == MIRRORS  # haze
    assert symmetries_for(names, [1.0, 1.0, 1.0]) == MIRRORS
    assert symmetries_for(["snow"], [0.8]) == MIRRORS  # a type not listed: mirrors only


def test_rain_uses_four_passes_and_haze_two():
    from training.ensemble import ensemble_for

    calls = []

    def once(t):
        calls.append(t.shape)
        return t

    x = torch.rand(1, 3, 4, 6)
    for probs, n in [([0.0, 0.9, 0.1], 4), ([0.0, 0.1, 0.9], 2), ([0.9, 0.0, 0.0], 8)]:
        calls.clear()
        out = ensemble_for(["noise", "rain", "haze"], torch.tensor([probs]), once, x)
        assert len(calls) == n and torch.allclose(out, x)
