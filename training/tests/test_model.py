"""Reference model: shapes per config, op semantics checked against naive loops."""

import math

import pytest
import torch

from training import ops
from training.model import CONFIGS, AllInOne, count, crop_origins, sample_crops


@pytest.mark.parametrize("name", ["tiny", "small", "medium", "paper"])
def test_shapes_every_config(name):
    torch.manual_seed(0)
    model = AllInOne(CONFIGS[name]).eval()
    img = torch.rand(1, 3, 21, 35)
    with torch.no_grad():
        out, probs = model.restore(img)
    assert out.shape == img.shape
    assert probs.shape == (1, len(CONFIGS[name].degradations))
    assert ((probs >= 0) & (probs <= 1)).all()
    crop = torch.rand(2, 3, CONFIGS[name].crop, CONFIGS[name].crop)
    assert model.prompt_net.logits(crop).shape == (2, 3)


def test_parameter_counts_are_ordered():
    sizes = {n: count(AllInOne(c)) for n, c in CONFIGS.items()}
    assert sizes["tiny"] < sizes["small"] < sizes["medium"] < sizes["paper"]
    # The paper's Prompt Net is a full ResNet-50 (23.5 M parameters with a 3-way head).
    assert count(AllInOne(CONFIGS["paper"]).prompt_net) == 23_514_179


def naive_window_attention(qkv, alpha, heads, window):
    _, c3, h, w = qkv.shape
    c, d = c3 // 3, c3 // 3 // heads
    x = ops.reflect_pad(qkv, multiple=window)[0]
    out = torch.zeros(c, x.shape[1], x.shape[2], dtype=qkv.dtype)
    for y0 in range(0, x.shape[1], window):
        for x0 in range(0, x.shape[2], window):
            blk = x[:, y0 : y0 + window, x0 : x0 + window].reshape(c3, -1)
            for hd in range(heads):
                q = blk[hd * d : (hd + 1) * d].T
                k = blk[c + hd * d : c + (hd + 1) * d].T
                v = blk[2 * c + hd * d : 2 * c + (hd + 1) * d].T
                a = torch.softmax(q @ k.T / alpha[hd], dim=-1)
                out[hd * d : (hd + 1) * d, y0 : y0 + window, x0 : x0 + window] = (a @ v).T.reshape(d, window, window)
    return out[None, :, :h, :w]


@pytest.mark.parametrize("h,w,heads,window", [(13, 17, 1, 8), (12, 10, 2, 5), (1, 9, 2, 4), (7, 7, 4, 3)])
def test_window_attention_matches_naive_loop(h, w, heads, window):
    g = torch.Generator().manual_seed(h * 100 + w)
    qkv = torch.randn(1, 3 * 4 * heads, h, w, generator=g, dtype=torch.float64)
    alpha = torch.rand(heads, generator=g, dtype=torch.float64) + 0.5
    got = ops.window_attention(qkv, alpha=alpha, heads=heads, window=window)
    torch.testing.assert_close(got, naive_window_attention(qkv, alpha, heads, window))


def test_channel_attention_matches_naive():
    g = torch.Generator().manual_seed(3)
    heads, c, h, w = 2, 6, 5, 7
    qkv = torch.randn(1, 3 * c, h, w, generator=g, dtype=torch.float64)
    t = torch.tensor([0.7, 2.0], dtype=torch.float64)
    got = ops.channel_attention(qkv, temperature=t, heads=heads)
    d = c // heads
    flat = qkv[0].reshape(3 * c, -1)
    for hd in range(heads):
        q = flat[hd * d : (hd + 1) * d]
        k = flat[c + hd * d : c + (hd + 1) * d]
        v = flat[2 * c + hd * d : 2 * c + (hd + 1) * d]
        q = q / q.norm(dim=1, keepdim=True)
        k = k / k.norm(dim=1, keepdim=True)
        want = torch.softmax(q @ k.T * t[hd], dim=-1) @ v
        torch.testing.assert_close(got[0, hd * d : (hd + 1) * d].reshape(d, -1), want)


def test_reflect_pad_matches_torch_for_small_pads_and_extends_periodically():
    x = torch.arange(5.0).reshape(1, 1, 1, 5).expand(1, 1, 3, 5).contiguous()
    torch.testing.assert_close(ops.reflect_pad_to(x, 3, 8), torch.nn.functional.pad(x, (0, 3, 0, 0), mode="reflect"))
    row = ops.reflect_pad_to(torch.tensor([[[[0.0, 1.0, 2.0]]]]), 1, 9)
    assert row.flatten().tolist() == [0, 1, 2, 1, 0, 1, 2, 1, 0]
    single = ops.reflect_pad_to(torch.tensor([[[[4.0]]]]), 3, 3)
    assert single.flatten().tolist() == [4.0] * 9


def test_crop_sampling():
    assert crop_origins(20, 32) == [0]
    assert crop_origins(37, 32) == [0, 5]
    assert crop_origins(321, 128) == [16, 177]
    assert crop_origins(481, 128) == [56, 297]
    img = torch.rand(1, 3, 24, 70)
    crops = sample_crops(img, 32)
    assert len(crops) == 2 and all(c.shape == (1, 3, 32, 32) for c in crops)
    assert len(sample_crops(torch.rand(1, 3, 300, 300), 128)) == 4
    assert math.isclose(sample_crops(img, 32)[0][0, 0, 24, 0].item(), img[0, 0, 22, 2].item())
