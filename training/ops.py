"""Reference semantics of every graph op (docs/model-format.md, "Ops").

Each function takes batch-1 NCHW tensors and keyword attributes/weights exactly as a
graph node names them. The nn.Modules in model.py call these same functions, so the
module forward and the graph interpreter in graph.py cannot drift apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reflect_index(i: torch.Tensor, n: int) -> torch.Tensor:
    """Source index for padded index i on an axis of length n (periodic reflection)."""
    if n == 1:
        return torch.zeros_like(i)
    p = 2 * (n - 1)
    j = torch.remainder(i, p)
    return torch.where(j < n, j, p - j)


def reflect_pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pad bottom/right of x (N,C,H,W) to h x w with the periodic reflect rule."""
    _, _, hh, ww = x.shape
    if (hh, ww) == (h, w):
        return x
    iy = reflect_index(torch.arange(h, device=x.device), hh)
    ix = reflect_index(torch.arange(w, device=x.device), ww)
    return x[:, :, iy][:, :, :, ix]


def round_up(n: int, m: int) -> int:
    return (n + m - 1) // m * m


def reflect_pad(x, *, multiple: int):
    _, _, h, w = x.shape
    return reflect_pad_to(x, round_up(h, multiple), round_up(w, multiple))


def crop(x, like):
    return x[:, :, : like.shape[2], : like.shape[3]]


def conv2d(x, *, weight, bias=None, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1):
    assert weight.shape[-1] == kernel
    return F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)


def linear(x, *, weight, bias=None):
    n, c, h, w = x.shape
    assert h == 1 and w == 1
    return F.linear(x.reshape(n, c), weight, bias).reshape(n, -1, 1, 1)


def layer_norm(x, *, weight, bias, eps: float = 1e-5):
    mu = x.mean(1, keepdim=True)
    var = x.var(1, keepdim=True, unbiased=False)
    return (x - mu) / torch.sqrt(var + eps) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def bias_free_layer_norm(x, *, weight, eps: float = 1e-5):
    # Restormer's BiasFree_LayerNorm: scaled by the standard deviation about the mean,
    # but x itself is not centred.
    var = x.var(1, keepdim=True, unbiased=False)
    return x / torch.sqrt(var + eps) * weight.view(1, -1, 1, 1)


def channel_affine(x, *, scale, shift):
    return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


def channel_attention(qkv, *, temperature, heads: int):
    n, c3, h, w = qkv.shape
    c = c3 // 3
    q, k, v = qkv.chunk(3, dim=1)
    q = q.reshape(n, heads, c // heads, h * w)
    k = k.reshape(n, heads, c // heads, h * w)
    v = v.reshape(n, heads, c // heads, h * w)
    q = F.normalize(q, dim=-1, eps=1e-12)
    k = F.normalize(k, dim=-1, eps=1e-12)
    attn = (q @ k.transpose(-2, -1)) * temperature.view(1, heads, 1, 1)
    attn = attn.softmax(dim=-1)
    return (attn @ v).reshape(n, c, h, w)


def window_attention(qkv, *, alpha, heads: int, window: int):
    n, c3, h, w = qkv.shape
    c = c3 // 3
    ws = window
    x = reflect_pad(qkv, multiple=ws)
    hp, wp = x.shape[2], x.shape[3]
    nh, nw = hp // ws, wp // ws
    d = c // heads
    # (n, 3, heads, d, nh, ws, nw, ws) -> (3, n, nh, nw, heads, ws*ws, d)
    x = x.reshape(n, 3, heads, d, nh, ws, nw, ws)
    x = x.permute(1, 0, 4, 6, 2, 5, 7, 3).reshape(3, n, nh, nw, heads, ws * ws, d)
    q, k, v = x[0], x[1], x[2]
    attn = (q @ k.transpose(-2, -1)) / alpha.view(1, 1, 1, heads, 1, 1)
    attn = attn.softmax(dim=-1)
    out = attn @ v  # (n, nh, nw, heads, ws*ws, d)
    out = out.reshape(n, nh, nw, heads, ws, ws, d).permute(0, 3, 6, 1, 4, 2, 5)
    out = out.reshape(n, c, hp, wp)
    return out[:, :, :h, :w]


def gelu_gate(x):
    a, b = x.chunk(2, dim=1)
    return F.gelu(a) * b


def pixel_shuffle(x, *, factor: int = 2):
    return F.pixel_shuffle(x, factor)


def pixel_unshuffle(x, *, factor: int = 2):
    return F.pixel_unshuffle(x, factor)


def concat(*xs):
    return torch.cat(xs, dim=1)


def resize_bilinear(x, like):
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


def global_avg_pool(x):
    return x.mean(dim=(2, 3), keepdim=True)


def softmax(x):
    return x.softmax(dim=1)


def sigmoid(x):
    return torch.sigmoid(x)


def relu(x):
    return F.relu(x)


def max_pool(x, *, kernel: int, stride: int, padding: int):
    return F.max_pool2d(x, kernel, stride, padding)


def add(a, b):
    return a + b


def weighted_add(a, b, *, wa, wb):
    return wa.view(1, 1, 1, 1) * a + wb.view(1, 1, 1, 1) * b


def mix_components(a, *, components):
    n, l, _, _ = a.shape
    return (a.reshape(n, l, 1, 1, 1) * components.unsqueeze(0)).sum(1)


# op name -> (function, weight slot names: (required, optional), number of inputs or None)
OPS = {
    "conv2d": (conv2d, ("weight",), ("bias",), 1),
    "linear": (linear, ("weight",), ("bias",), 1),
    "layer_norm": (layer_norm, ("weight", "bias"), (), 1),
    "bias_free_layer_norm": (bias_free_layer_norm, ("weight",), (), 1),
    "channel_affine": (channel_affine, ("scale", "shift"), (), 1),
    "channel_attention": (channel_attention, ("temperature",), (), 1),
    "window_attention": (window_attention, ("alpha",), (), 1),
    "gelu_gate": (gelu_gate, (), (), 1),
    "pixel_shuffle": (pixel_shuffle, (), (), 1),
    "pixel_unshuffle": (pixel_unshuffle, (), (), 1),
    "concat": (concat, (), (), None),
    "resize_bilinear": (resize_bilinear, (), (), 2),
    "global_avg_pool": (global_avg_pool, (), (), 1),
    "softmax": (softmax, (), (), 1),
    "sigmoid": (sigmoid, (), (), 1),
    "relu": (relu, (), (), 1),
    "max_pool": (max_pool, (), (), 1),
    "add": (add, (), (), 2),
    "weighted_add": (weighted_add, ("wa", "wb"), (), 2),
    "reflect_pad": (reflect_pad, (), (), 1),
    "crop": (crop, (), (), 2),
    "mix_components": (mix_components, ("components",), (), 1),
}
