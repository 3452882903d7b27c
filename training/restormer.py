"""Restormer (Zamir et al., CVPR 2022), ported so that the authors' published checkpoints
load unchanged (`load_state_dict(strict=True)`): module and parameter names and shapes are
theirs (training/layouts/restormer_*.json lists them). The blocks here are shared with the
PromptIR port (promptir.py).

Every module has `forward` (PyTorch, through the functions of ops.py) and `emit(g, ...)`
(the same computation as graph nodes, docs/model-format.md), as in model.py. The node
names, their order and the weight names are fixed by the import spec, because the Rust
importer must write the same bytes from the same checkpoint.

`restore(img)` is the authors' test protocol (Restormer and PromptIR `demo.py`): reflect-pad
bottom/right to a multiple of 8, run the network, crop back. Clamping to [0, 1] belongs to
writing images, not to the network.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import ops
from .model import emit_conv

LAYER_NORMS = ("with_bias", "bias_free")


class WithBiasLayerNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return ops.layer_norm(x, weight=self.weight, bias=self.bias)

    def emit(self, g, x, name):
        # No eps attribute: the default (1e-5, the authors' constant) keeps floats out of
        # imported documents.
        return g.node("layer_norm", name, [x], {}, {"weight": g.param(self.weight), "bias": g.param(self.bias)})


class BiasFreeLayerNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return ops.bias_free_layer_norm(x, weight=self.weight)

    def emit(self, g, x, name):
        return g.node("bias_free_layer_norm", name, [x], {}, {"weight": g.param(self.weight)})


class LayerNorm(nn.Module):
    """Layer norm over channels at each pixel; the authors' wrapper holds it as `body`."""

    def __init__(self, c, kind: str):
        super().__init__()
        if kind not in LAYER_NORMS:
            raise ValueError(f"layer norm type must be one of {LAYER_NORMS}, got {kind!r}")
        self.body = WithBiasLayerNorm(c) if kind == "with_bias" else BiasFreeLayerNorm(c)

    def forward(self, x):
        return self.body(x)

    def emit(self, g, x, name):
        return self.body.emit(g, x, name)


class Attention(nn.Module):
    """MDTA: transposed (channel) self-attention after 1x1 and depthwise 3x3 projections."""

    def __init__(self, c, heads, bias):
        super().__init__()
        if c % heads:
            raise ValueError(f"{heads} heads do not divide {c} channels")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(c, 3 * c, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * c, 3 * c, 3, padding=1, groups=3 * c, bias=bias)
        self.project_out = nn.Conv2d(c, c, 1, bias=bias)

    def forward(self, x):
        qkv = self.qkv_dwconv(self.qkv(x))
        return self.project_out(ops.channel_attention(qkv, temperature=self.temperature.reshape(-1), heads=self.heads))

    def emit(self, g, x, name):
        t = emit_conv(g, self.qkv, x, f"{name}.qkv")
        t = emit_conv(g, self.qkv_dwconv, t, f"{name}.qkv_dwconv")
        # The file's channel_attention takes temperature as [h]; the checkpoint holds [h, 1, 1].
        temperature = g.tensor(g.param_names[id(self.temperature)], self.temperature.reshape(-1))
        t = g.node("channel_attention", f"{name}.attention", [t], {"heads": self.heads}, {"temperature": temperature})
        return emit_conv(g, self.project_out, t, f"{name}.project_out")


class FeedForward(nn.Module):
    """GDFN: 1x1 to 2 x hidden, depthwise 3x3, GELU gate, 1x1 back; hidden = int(c * factor)."""

    def __init__(self, c, factor, bias):
        super().__init__()
        hidden = int(c * factor)  # the authors' rounding (floor), not model.py's round()
        self.project_in = nn.Conv2d(c, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, c, 1, bias=bias)

    def forward(self, x):
        return self.project_out(ops.gelu_gate(self.dwconv(self.project_in(x))))

    def emit(self, g, x, name):
        t = emit_conv(g, self.project_in, x, f"{name}.project_in")
        t = emit_conv(g, self.dwconv, t, f"{name}.dwconv")
        t = g.node("gelu_gate", f"{name}.gate", [t])
        return emit_conv(g, self.project_out, t, f"{name}.project_out")


class TransformerBlock(nn.Module):
    def __init__(self, c, heads, factor, bias, layer_norm):
        super().__init__()
        self.norm1 = LayerNorm(c, layer_norm)
        self.attn = Attention(c, heads, bias)
        self.norm2 = LayerNorm(c, layer_norm)
        self.ffn = FeedForward(c, factor, bias)

    def forward(self, x):
        y = ops.add(x, self.attn(self.norm1(x)))
        return ops.add(y, self.ffn(self.norm2(y)))

    def emit(self, g, x, name):
        t = self.attn.emit(g, self.norm1.emit(g, x, f"{name}.norm1"), f"{name}.attn")
        y = g.node("add", f"{name}.add1", [x, t])
        t = self.ffn.emit(g, self.norm2.emit(g, y, f"{name}.norm2"), f"{name}.ffn")
        return g.node("add", f"{name}.add2", [y, t])


class Blocks(nn.Sequential):
    """A level's stack of transformer blocks, named `<level>.<i>` as the authors' Sequential."""

    def __init__(self, n, c, heads, factor, bias, layer_norm):
        super().__init__(*[TransformerBlock(c, heads, factor, bias, layer_norm) for _ in range(n)])

    def emit(self, g, x, name):
        for i, block in enumerate(self):
            x = block.emit(g, x, f"{name}.{i}")
        return x


class Downsample(nn.Module):
    """conv3x3 c -> c/2 (never a bias), PixelUnshuffle(2): 2c at half size."""

    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x):
        return ops.pixel_unshuffle(self.body[0](x), factor=2)

    def emit(self, g, x, name):
        t = emit_conv(g, self.body[0], x, f"{name}.body.0")
        return g.node("pixel_unshuffle", f"{name}.body.1", [t], {"factor": 2})


class Upsample(nn.Module):
    """conv3x3 c -> 2c (never a bias), PixelShuffle(2): c/2 at double size."""

    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x):
        return ops.pixel_shuffle(self.body[0](x), factor=2)

    def emit(self, g, x, name):
        t = emit_conv(g, self.body[0], x, f"{name}.body.0")
        return g.node("pixel_shuffle", f"{name}.body.1", [t], {"factor": 2})


class OverlapPatchEmbed(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        # The authors construct it without passing `bias`, so it never has one.
        self.proj = nn.Conv2d(cin, dim, 3, padding=1, bias=False)

    def forward(self, x):
        return self.proj(x)

    def emit(self, g, x, name):
        return emit_conv(g, self.proj, x, f"{name}.proj")


def check_levels(blocks, heads):
    if len(blocks) != 4 or len(heads) != 4:
        raise ValueError(f"blocks and heads need one entry per level (4), got {blocks} and {heads}")


class UNet(nn.Module):
    """The 4-level encoder-decoder both networks share. Subclasses register the modules (in
    the authors' order, which is the checkpoints' order) and may add a stage after the
    latent and after decoder levels 3 and 2 (PromptIR's prompt blocks)."""

    MULTIPLE = 8  # three 2x downsamplings

    def stage(self, level: int, x):
        return x

    def emit_stage(self, g, level: int, x):
        return x

    def forward(self, x):
        """The authors' forward: x (N, 3, H, W) with H and W multiples of 8."""
        e1 = self.encoder_level1(self.patch_embed(x))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        t = self.stage(3, self.latent(self.down3_4(e3)))
        t = self.decoder_level3(self.reduce_chan_level3(ops.concat(self.up4_3(t), e3)))
        t = self.stage(2, t)
        t = self.decoder_level2(self.reduce_chan_level2(ops.concat(self.up3_2(t), e2)))
        t = self.stage(1, t)
        t = self.refinement(self.decoder_level1(ops.concat(self.up2_1(t), e1)))
        return ops.add(self.output(t), x)

    @torch.no_grad()
    def restore(self, img):
        """The authors' test protocol: pad to a multiple of 8 (reflect), forward, crop back."""
        return ops.crop(self.forward(ops.reflect_pad(img, multiple=self.MULTIPLE)), img)

    def emit(self, g, img):
        """`restore` as graph nodes (import spec, section 4); returns the output value."""
        x = g.node("reflect_pad", "pad", [img], {"multiple": self.MULTIPLE})
        e1 = self.encoder_level1.emit(g, self.patch_embed.emit(g, x, "patch_embed"), "encoder_level1")
        e2 = self.encoder_level2.emit(g, self.down1_2.emit(g, e1, "down1_2"), "encoder_level2")
        e3 = self.encoder_level3.emit(g, self.down2_3.emit(g, e2, "down2_3"), "encoder_level3")
        t = self.latent.emit(g, self.down3_4.emit(g, e3, "down3_4"), "latent")
        t = self.emit_stage(g, 3, t)
        t = g.node("concat", "concat_level3", [self.up4_3.emit(g, t, "up4_3"), e3])
        t = emit_conv(g, self.reduce_chan_level3, t, "reduce_chan_level3")
        t = self.emit_stage(g, 2, self.decoder_level3.emit(g, t, "decoder_level3"))
        t = g.node("concat", "concat_level2", [self.up3_2.emit(g, t, "up3_2"), e2])
        t = emit_conv(g, self.reduce_chan_level2, t, "reduce_chan_level2")
        t = self.emit_stage(g, 1, self.decoder_level2.emit(g, t, "decoder_level2"))
        t = g.node("concat", "concat_level1", [self.up2_1.emit(g, t, "up2_1"), e1])
        t = self.refinement.emit(g, self.decoder_level1.emit(g, t, "decoder_level1"), "refinement")
        t = g.node("add", "residual", [emit_conv(g, self.output, t, "output"), x])
        return g.node("crop", "crop", [t, img])


class Restormer(UNet):
    """The authors' Restormer; defaults are their published configuration.

    `dual_pixel` (6 input channels, `skip_conv`, no image residual) exists only so that such
    a checkpoint loads; it has no graph form (`emit` refuses it), nor do grayscale models."""

    def __init__(self, dim=48, blocks=(4, 6, 6, 8), refinement=4, heads=(1, 2, 4, 8), ffn_factor=2.66, bias=False,
                 layer_norm="with_bias", in_channels=3, out_channels=3, dual_pixel=False):
        super().__init__()
        check_levels(blocks, heads)
        self.dual_pixel, self.in_channels, self.out_channels = dual_pixel, in_channels, out_channels
        level = lambda n, c, h: Blocks(n, c, h, ffn_factor, bias, layer_norm)  # noqa: E731
        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        self.encoder_level1 = level(blocks[0], dim, heads[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = level(blocks[1], 2 * dim, heads[1])
        self.down2_3 = Downsample(2 * dim)
        self.encoder_level3 = level(blocks[2], 4 * dim, heads[2])
        self.down3_4 = Downsample(4 * dim)
        self.latent = level(blocks[3], 8 * dim, heads[3])
        self.up4_3 = Upsample(8 * dim)
        self.reduce_chan_level3 = nn.Conv2d(8 * dim, 4 * dim, 1, bias=bias)
        self.decoder_level3 = level(blocks[2], 4 * dim, heads[2])
        self.up3_2 = Upsample(4 * dim)
        self.reduce_chan_level2 = nn.Conv2d(4 * dim, 2 * dim, 1, bias=bias)
        self.decoder_level2 = level(blocks[1], 2 * dim, heads[1])
        self.up2_1 = Upsample(2 * dim)
        self.decoder_level1 = level(blocks[0], 2 * dim, heads[0])
        self.refinement = level(refinement, 2 * dim, heads[0])
        if dual_pixel:
            self.skip_conv = nn.Conv2d(dim, 2 * dim, 1, bias=bias)
        self.output = nn.Conv2d(2 * dim, out_channels, 3, padding=1, bias=bias)

    def forward(self, x):
        if not self.dual_pixel:
            return super().forward(x)
        # The dual-pixel variant: a skip from the embedding instead of the image residual.
        f = self.patch_embed(x)
        e1 = self.encoder_level1(f)
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        t = self.latent(self.down3_4(e3))
        t = self.decoder_level3(self.reduce_chan_level3(ops.concat(self.up4_3(t), e3)))
        t = self.decoder_level2(self.reduce_chan_level2(ops.concat(self.up3_2(t), e2)))
        t = self.refinement(self.decoder_level1(ops.concat(self.up2_1(t), e1)))
        return self.output(ops.add(t, self.skip_conv(f)))

    def emit(self, g, img):
        if self.dual_pixel or (self.in_channels, self.out_channels) != (3, 3):
            raise ValueError("only the single-image RGB Restormer has a graph form (not dual-pixel, not grayscale)")
        return super().emit(g, img)
