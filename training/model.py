"""The restoration model of ../shared/MODEL.md: Prompt Net (ResNet) + Dsa U-Net.

Every module has two faces that must agree:
- `forward`, the PyTorch computation used for training;
- `emit(g, ...)`, which writes the same computation as graph nodes (graph.py) for the
  model file. The export round-trip test checks that both give the same numbers.

Run `python -m training.model` to print parameter counts per config and part.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from . import ops

DEGRADATIONS = ["noise", "rain", "haze"]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass
class Config:
    name: str
    C: int
    blocks: list[int]
    refine: int
    prompt_dims: list[int]  # D for prompt blocks 1, 2, 3
    prompt_sizes: list[int]  # S for prompt blocks 1, 2, 3
    prompt_len: int  # L
    windows: list[int]  # window attention side per level 1..4
    resnet_width: int
    resnet_blocks: list[int]
    crop: int  # Prompt Net crop side
    heads: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    degradations: list[str] = field(default_factory=lambda: list(DEGRADATIONS))
    ffn_factor: float = 2.66


CONFIGS = {
    "paper": Config("paper", 48, [4, 6, 6, 8], 4, [64, 128, 320], [64, 32, 16], 5, [8, 8, 8, 8], 64, [3, 4, 6, 3], 128),
    # small: sized to train on a 2-core CPU (docs/training.md); narrow ResNet-50 Prompt Net.
    "small": Config("small", 16, [1, 2, 2, 2], 1, [16, 32, 64], [32, 16, 8], 5, [8, 8, 8, 8], 16, [3, 4, 6, 3], 128),
    # medium: small grown deeper (training/grow.py): two blocks at full resolution, twice the
    # refinement, [2, 3, 3, 4] like the noise-only probe in ../shared/NOTES.md; 1.6x small's
    # training step on the 2-core CPU.
    "medium": Config("medium", 16, [2, 3, 3, 4], 2, [16, 32, 64], [32, 16, 8], 5, [8, 8, 8, 8], 16, [3, 4, 6, 3], 128),
    # tiny: tests only. Window sizes differ per level on purpose (odd sizes, padding).
    "tiny": Config("tiny", 8, [1, 1, 1, 1], 1, [8, 8, 16], [8, 8, 8], 3, [8, 5, 4, 3], 8, [1, 1, 1, 1], 32),
}


def get_config(name: str) -> Config:
    return CONFIGS[name]


# ---------------------------------------------------------------- graph emission helpers


def emit_conv(g, conv: nn.Conv2d, x: str, name: str) -> str:
    weights = {"weight": g.param(conv.weight)}
    if conv.bias is not None:
        weights["bias"] = g.param(conv.bias)
    attrs = {"kernel": conv.kernel_size[0], "stride": conv.stride[0], "padding": conv.padding[0], "groups": conv.groups}
    return g.node("conv2d", name, [x], attrs, weights)


def conv1x1(cin, cout, bias=False):
    return nn.Conv2d(cin, cout, 1, bias=bias)


def conv3x3(cin, cout, bias=False, groups=1):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias, groups=groups)


class LayerNorm2d(nn.Module):
    """Layer norm over channels at each pixel (with weight and bias, eps 1e-5)."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = 1e-5

    def forward(self, x):
        return ops.layer_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)

    def emit(self, g, x, name):
        return g.node("layer_norm", name, [x], {"eps": self.eps}, {"weight": g.param(self.weight), "bias": g.param(self.bias)})


# ---------------------------------------------------------------- restoration network


class MHDSA(nn.Module):
    """Multi-head dual self-attention: channel branch + windowed spatial branch."""

    def __init__(self, c, heads, window):
        super().__init__()
        assert c % heads == 0, (c, heads)
        self.heads, self.window = heads, window
        self.norm_c, self.norm_p = LayerNorm2d(c), LayerNorm2d(c)
        self.qkv_c, self.qkv_p = conv1x1(c, 3 * c), conv1x1(c, 3 * c)
        self.dw_c, self.dw_p = conv3x3(3 * c, 3 * c, groups=3 * c), conv3x3(3 * c, 3 * c, groups=3 * c)
        self.proj_c, self.proj_p = conv1x1(c, c), conv1x1(c, c)
        self.temperature = nn.Parameter(torch.ones(heads))
        self.alpha = nn.Parameter(torch.full((heads,), math.sqrt(c / heads)))
        self.w1 = nn.Parameter(torch.tensor([0.5]))
        self.w2 = nn.Parameter(torch.tensor([0.5]))

    def forward(self, x):
        qc = self.dw_c(self.qkv_c(self.norm_c(x)))
        xc = self.proj_c(ops.channel_attention(qc, temperature=self.temperature, heads=self.heads)) + x
        qp = self.dw_p(self.qkv_p(self.norm_p(x)))
        xp = self.proj_p(ops.window_attention(qp, alpha=self.alpha, heads=self.heads, window=self.window)) + x
        return ops.weighted_add(xc, xp, wa=self.w1, wb=self.w2)

    def emit(self, g, x, name):
        t = self.norm_c.emit(g, x, f"{name}.norm_c")
        t = emit_conv(g, self.qkv_c, t, f"{name}.qkv_c")
        t = emit_conv(g, self.dw_c, t, f"{name}.dw_c")
        t = g.node("channel_attention", f"{name}.attn_c", [t], {"heads": self.heads}, {"temperature": g.param(self.temperature)})
        t = emit_conv(g, self.proj_c, t, f"{name}.proj_c")
        xc = g.node("add", f"{name}.res_c", [t, x])
        t = self.norm_p.emit(g, x, f"{name}.norm_p")
        t = emit_conv(g, self.qkv_p, t, f"{name}.qkv_p")
        t = emit_conv(g, self.dw_p, t, f"{name}.dw_p")
        t = g.node("window_attention", f"{name}.attn_p", [t], {"heads": self.heads, "window": self.window}, {"alpha": g.param(self.alpha)})
        t = emit_conv(g, self.proj_p, t, f"{name}.proj_p")
        xp = g.node("add", f"{name}.res_p", [t, x])
        return g.node("weighted_add", f"{name}.mix", [xc, xp], {}, {"wa": g.param(self.w1), "wb": g.param(self.w2)})


class GDFN(nn.Module):
    """Gated depthwise feed-forward network (Restormer)."""

    def __init__(self, c, factor):
        super().__init__()
        hidden = round(c * factor)
        self.pin = conv1x1(c, 2 * hidden)
        self.dw = conv3x3(2 * hidden, 2 * hidden, groups=2 * hidden)
        self.pout = conv1x1(hidden, c)

    def forward(self, x):
        return self.pout(ops.gelu_gate(self.dw(self.pin(x))))

    def emit(self, g, x, name):
        t = emit_conv(g, self.pin, x, f"{name}.pin")
        t = emit_conv(g, self.dw, t, f"{name}.dw")
        t = g.node("gelu_gate", f"{name}.gate", [t])
        return emit_conv(g, self.pout, t, f"{name}.pout")


class DsaBlock(nn.Module):
    def __init__(self, c, heads, window, ffn_factor):
        super().__init__()
        self.attn = MHDSA(c, heads, window)
        self.norm = LayerNorm2d(c)
        self.ffn = GDFN(c, ffn_factor)

    def forward(self, x):
        y = self.attn(x)
        return y + self.ffn(self.norm(y))

    def emit(self, g, x, name):
        y = self.attn.emit(g, x, f"{name}.attn")
        t = self.norm.emit(g, y, f"{name}.norm")
        t = self.ffn.emit(g, t, f"{name}.ffn")
        return g.node("add", f"{name}.res", [y, t])


class DsaStack(nn.Sequential):
    def __init__(self, n, c, heads, window, ffn_factor):
        super().__init__(*[DsaBlock(c, heads, window, ffn_factor) for _ in range(n)])

    def emit(self, g, x, name):
        for i, block in enumerate(self):
            x = block.emit(g, x, f"{name}.{i}")
        return x


class Down(nn.Module):
    """conv3x3 c -> c/2, then PixelUnshuffle(2): c -> 2c at half size."""

    def __init__(self, c):
        super().__init__()
        self.conv = conv3x3(c, c // 2)

    def forward(self, x):
        return ops.pixel_unshuffle(self.conv(x), factor=2)

    def emit(self, g, x, name):
        t = emit_conv(g, self.conv, x, f"{name}.conv")
        return g.node("pixel_unshuffle", f"{name}.unshuffle", [t], {"factor": 2})


class Up(nn.Module):
    """conv3x3 c -> 2c, then PixelShuffle(2): c -> c/2 at double size."""

    def __init__(self, c):
        super().__init__()
        self.conv = conv3x3(c, 2 * c)

    def forward(self, x):
        return ops.pixel_shuffle(self.conv(x), factor=2)

    def emit(self, g, x, name):
        t = emit_conv(g, self.conv, x, f"{name}.conv")
        return g.node("pixel_shuffle", f"{name}.shuffle", [t], {"factor": 2})


class PromptBlock(nn.Module):
    """PGM (prompt generation) + PIM (prompt interaction), MODEL.md equations 2-4."""

    def __init__(self, c, dim, size, length, k, heads, window, ffn_factor):
        super().__init__()
        self.components = nn.Parameter(torch.rand(length, dim, size, size))
        self.from_feat = conv1x1(c, length)
        self.from_probs = nn.Linear(k, length)
        self.refine_prompt = conv3x3(dim, dim)
        self.dsa = DsaBlock(c + dim, heads, window, ffn_factor)
        self.reduce = conv1x1(c + dim, c)
        self.out = conv3x3(c, c)

    def forward(self, f, probs):
        # probs: (N, K, 1, 1)
        logits = self.from_feat(ops.global_avg_pool(f)) + ops.linear(probs, weight=self.from_probs.weight, bias=self.from_probs.bias)
        a = ops.softmax(logits)
        prompt = self.refine_prompt(ops.resize_bilinear(ops.mix_components(a, components=self.components), f))
        return self.out(self.reduce(self.dsa(ops.concat(f, prompt))))

    def emit(self, g, f, probs, name):
        t = g.node("global_avg_pool", f"{name}.gap", [f])
        u = emit_conv(g, self.from_feat, t, f"{name}.from_feat")
        v = g.node("linear", f"{name}.from_probs", [probs], {}, {"weight": g.param(self.from_probs.weight), "bias": g.param(self.from_probs.bias)})
        t = g.node("add", f"{name}.logits", [u, v])
        t = g.node("softmax", f"{name}.weights", [t])
        t = g.node("mix_components", f"{name}.mix", [t], {}, {"components": g.param(self.components)})
        t = g.node("resize_bilinear", f"{name}.resize", [t, f])
        prompt = emit_conv(g, self.refine_prompt, t, f"{name}.refine_prompt")
        t = g.node("concat", f"{name}.cat", [f, prompt])
        t = self.dsa.emit(g, t, f"{name}.dsa")
        t = emit_conv(g, self.reduce, t, f"{name}.reduce")
        return emit_conv(g, self.out, t, f"{name}.out")


class Restorer(nn.Module):
    """The 4-level U-Net of Dsa blocks with prompt blocks in the decoder."""

    def __init__(self, cfg: Config):
        super().__init__()
        C, n, h, w, f = cfg.C, cfg.blocks, cfg.heads, cfg.windows, cfg.ffn_factor
        K, L, D, S = len(cfg.degradations), cfg.prompt_len, cfg.prompt_dims, cfg.prompt_sizes
        self.embed = conv3x3(3, C)
        self.enc1 = DsaStack(n[0], C, h[0], w[0], f)
        self.down1 = Down(C)
        self.enc2 = DsaStack(n[1], 2 * C, h[1], w[1], f)
        self.down2 = Down(2 * C)
        self.enc3 = DsaStack(n[2], 4 * C, h[2], w[2], f)
        self.down3 = Down(4 * C)
        self.latent = DsaStack(n[3], 8 * C, h[3], w[3], f)
        self.prompt3 = PromptBlock(8 * C, D[2], S[2], L, K, h[3], w[3], f)
        self.up3 = Up(8 * C)
        self.reduce3 = conv1x1(8 * C, 4 * C)
        self.dec3 = DsaStack(n[2], 4 * C, h[2], w[2], f)
        self.prompt2 = PromptBlock(4 * C, D[1], S[1], L, K, h[2], w[2], f)
        self.up2 = Up(4 * C)
        self.reduce2 = conv1x1(4 * C, 2 * C)
        self.dec2 = DsaStack(n[1], 2 * C, h[1], w[1], f)
        self.prompt1 = PromptBlock(2 * C, D[0], S[0], L, K, h[1], w[1], f)
        self.up1 = Up(2 * C)
        self.dec1 = DsaStack(n[0], 2 * C, h[0], w[0], f)
        self.refinement = DsaStack(cfg.refine, 2 * C, h[0], w[0], f)
        self.output = conv3x3(2 * C, 3)

    def forward(self, img, probs):
        """img (N,3,H,W) in [0,1]; probs (N,K). Returns the restored image."""
        p = probs.reshape(probs.shape[0], -1, 1, 1)
        x = ops.reflect_pad(img, multiple=8)
        e1 = self.enc1(self.embed(x))
        e2 = self.enc2(self.down1(e1))
        e3 = self.enc3(self.down2(e2))
        lat = self.prompt3(self.latent(self.down3(e3)), p)
        d3 = self.prompt2(self.dec3(self.reduce3(ops.concat(self.up3(lat), e3))), p)
        d2 = self.prompt1(self.dec2(self.reduce2(ops.concat(self.up2(d3), e2))), p)
        d1 = self.refinement(self.dec1(ops.concat(self.up1(d2), e1)))
        out = self.output(d1) + x
        return ops.crop(out, img)

    def emit(self, g, img, probs):
        x = g.node("reflect_pad", "pad", [img], {"multiple": 8})
        e1 = self.enc1.emit(g, emit_conv(g, self.embed, x, "embed"), "enc1")
        e2 = self.enc2.emit(g, self.down1.emit(g, e1, "down1"), "enc2")
        e3 = self.enc3.emit(g, self.down2.emit(g, e2, "down2"), "enc3")
        t = self.latent.emit(g, self.down3.emit(g, e3, "down3"), "latent")
        lat = self.prompt3.emit(g, t, probs, "prompt3")
        t = g.node("concat", "cat3", [self.up3.emit(g, lat, "up3"), e3])
        t = self.dec3.emit(g, emit_conv(g, self.reduce3, t, "reduce3"), "dec3")
        d3 = self.prompt2.emit(g, t, probs, "prompt2")
        t = g.node("concat", "cat2", [self.up2.emit(g, d3, "up2"), e2])
        t = self.dec2.emit(g, emit_conv(g, self.reduce2, t, "reduce2"), "dec2")
        d2 = self.prompt1.emit(g, t, probs, "prompt1")
        t = g.node("concat", "cat1", [self.up1.emit(g, d2, "up1"), e1])
        t = self.refinement.emit(g, self.dec1.emit(g, t, "dec1"), "refinement")
        t = emit_conv(g, self.output, t, "output")
        t = g.node("add", "residual", [t, x])
        return g.node("crop", "crop", [t, img])


# ---------------------------------------------------------------- Prompt Net (ResNet)


class ConvBN(nn.Module):
    """Convolution + BatchNorm (+ ReLU); BatchNorm is folded into the conv at export."""

    def __init__(self, cin, cout, k, stride=1, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = relu

    def forward(self, x):
        if self.training:
            x = self.bn(self.conv(x))
        else:  # inference computes exactly what the exported (folded) file computes
            weight, bias = self.folded()
            c = self.conv
            x = ops.conv2d(x, weight=weight, bias=bias, kernel=c.kernel_size[0], stride=c.stride[0], padding=c.padding[0])
        return ops.relu(x) if self.relu else x

    def folded(self):
        # Folded in f64 and rounded once: f32 kernels may fuse the multiply-add or not
        # depending on the CPU, and exported files (and fixtures) must not depend on it.
        bn, dt = self.bn, self.conv.weight.dtype
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = self.conv.weight.double() * scale.view(-1, 1, 1, 1)
        bias = bn.bias.double() - bn.running_mean.double() * scale
        return weight.to(dt).detach(), bias.to(dt).detach()

    def emit(self, g, x, name):
        weight, bias = self.folded()
        c = self.conv
        attrs = {"kernel": c.kernel_size[0], "stride": c.stride[0], "padding": c.padding[0], "groups": 1}
        t = g.node("conv2d", name, [x], attrs, {"weight": g.tensor(f"{name}.weight", weight), "bias": g.tensor(f"{name}.bias", bias)})
        return g.node("relu", f"{name}.relu", [t]) if self.relu else t


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * self.expansion
        self.c1 = ConvBN(cin, width, 1)
        self.c2 = ConvBN(width, width, 3, stride)
        self.c3 = ConvBN(width, cout, 1, relu=False)
        self.shortcut = ConvBN(cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        s = self.shortcut(x) if self.shortcut is not None else x
        return ops.relu(self.c3(self.c2(self.c1(x))) + s)

    def emit(self, g, x, name):
        t = self.c3.emit(g, self.c2.emit(g, self.c1.emit(g, x, f"{name}.c1"), f"{name}.c2"), f"{name}.c3")
        s = self.shortcut.emit(g, x, f"{name}.shortcut") if self.shortcut is not None else x
        t = g.node("add", f"{name}.res", [t, s])
        return g.node("relu", f"{name}.relu", [t])


class PromptNet(nn.Module):
    """ResNet-50 layout (bottleneck, expansion 4) of configurable width; sigmoid head."""

    def __init__(self, cfg: Config):
        super().__init__()
        w = cfg.resnet_width
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN))
        self.register_buffer("std", torch.tensor(IMAGENET_STD))
        self.stem = ConvBN(3, w, 7, 2)
        layers, cin = [], w
        for i, n in enumerate(cfg.resnet_blocks):
            width = w * 2**i
            for j in range(n):
                layers.append(Bottleneck(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * Bottleneck.expansion
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, len(cfg.degradations))

    def logits(self, x):
        """x (N,3,S,S) RGB in [0,1] -> (N,K) logits."""
        x = ops.channel_affine(x, scale=1.0 / self.std, shift=-self.mean / self.std)
        x = ops.max_pool(self.stem(x), kernel=3, stride=2, padding=1)
        x = ops.global_avg_pool(self.layers(x))
        return ops.linear(x, weight=self.head.weight, bias=self.head.bias).flatten(1)

    def forward(self, x):
        return torch.sigmoid(self.logits(x))

    def emit(self, g, x):
        t = g.node("channel_affine", "normalize", [x], {}, {"scale": g.tensor("normalize.scale", 1.0 / self.std), "shift": g.tensor("normalize.shift", -self.mean / self.std)})
        t = g.node("max_pool", "stem.pool", [self.stem.emit(g, t, "stem")], {"kernel": 3, "stride": 2, "padding": 1})
        for i, block in enumerate(self.layers):
            t = block.emit(g, t, f"layers.{i}")
        t = g.node("global_avg_pool", "gap", [t])
        t = g.node("linear", "head", [t], {}, {"weight": g.param(self.head.weight), "bias": g.param(self.head.bias)})
        return g.node("sigmoid", "probs", [t])


# ---------------------------------------------------------------- the whole model


def crop_origins(side: int, crop: int) -> list[int]:
    """Crop origins along one axis (docs/model-format.md, "Crop sampling")."""
    if side <= crop:
        return [0]
    origins = []
    for q in (0.25, 0.75):
        o = min(max(math.floor(side * q + 0.5) - crop // 2, 0), side - crop)
        if o not in origins:
            origins.append(o)
    return origins


def sample_crops(img: torch.Tensor, crop: int, max_crops: int = 4) -> list[torch.Tensor]:
    """Crops of img (1,3,H,W) for the Prompt Net, reflect-padded up to crop x crop."""
    _, _, h, w = img.shape
    crops = []
    for y in crop_origins(h, crop):
        for x in crop_origins(w, crop):
            c = img[:, :, y : y + crop, x : x + crop]
            crops.append(ops.reflect_pad_to(c, crop, crop))
    return crops[:max_crops]


class AllInOne(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.prompt_net = PromptNet(cfg)
        self.restorer = Restorer(cfg)

    @torch.no_grad()
    def classify(self, img: torch.Tensor, max_crops: int = 4) -> torch.Tensor:
        """Inference-time probabilities for one image (1,3,H,W): mean over crops, (1,K)."""
        crops = sample_crops(img, self.cfg.crop, max_crops)
        return torch.stack([self.prompt_net(c) for c in crops]).mean(0)

    @torch.no_grad()
    def restore(self, img: torch.Tensor, probs: torch.Tensor | None = None, ensemble: bool = False):
        """Restored image and the probabilities used; `ensemble`: self-ensemble (ensemble.py)."""
        if probs is None:
            probs = self.classify(img)
        if ensemble:
            from .ensemble import ensemble_for

            return ensemble_for(self.cfg.degradations, probs, lambda x: self.restorer(x, probs), img), probs
        return self.restorer(img, probs), probs


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_table() -> str:
    rows = [f"{'config':8} {'restorer':>12} {'prompt net':>12} {'total':>12}"]
    for name, cfg in CONFIGS.items():
        m = AllInOne(cfg)
        r, p = count(m.restorer), count(m.prompt_net)
        rows.append(f"{name:8} {r:12,} {p:12,} {r + p:12,}")
    return "\n".join(rows)


def config_dict(cfg: Config) -> dict:
    return asdict(cfg)


if __name__ == "__main__":
    print(parameter_table())
