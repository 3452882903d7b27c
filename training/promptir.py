"""PromptIR (Potlapalli et al., NeurIPS 2023), ported so that the authors' published
all-in-one checkpoint loads unchanged (their `PromptIR(decoder=True)`; names and shapes in
training/layouts/promptir.json). Built from the Restormer blocks of restormer.py.

The authors hard-code the prompt widths for dim 48 (64/128/320 channels, 5 components of
64/32/16 pixels); here they are parameters, laid out as the import spec (section 3)
generalises them: at the defaults every name and shape is the authors'.

Also as theirs: `chnl_reduce1/2/3` and `reduce_noise_channel_1/2/3` are created but never
used by the forward pass; they exist so that strict loading accepts the checkpoint, and are
not written to model files. Their widths do not matter to anything; an importer passes the
checkpoint's shapes (`unused`).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import ops
from .model import emit_conv
from .restormer import Blocks, Downsample, OverlapPatchEmbed, TransformerBlock, UNet, Upsample, check_levels

# The unused convolutions, in the authors' order of creation.
UNUSED = ("chnl_reduce1", "chnl_reduce2", "chnl_reduce3", "reduce_noise_channel_1", "reduce_noise_channel_2", "reduce_noise_channel_3")


def unused_shapes(dim: int, prompt_dims) -> dict[str, tuple]:
    """Weight shapes of the unused convolutions; the authors' at dim 48, prompt dims 64/128/320.
    Their 256 (chnl_reduce3's output) generalises as 4/5 of the third prompt dim."""
    d1, d2, d3 = prompt_dims
    r3 = d3 * 4 // 5
    return {
        "chnl_reduce1": (d1, d1, 1, 1),
        "chnl_reduce2": (d2, d2, 1, 1),
        "chnl_reduce3": (r3, d3, 1, 1),
        "reduce_noise_channel_1": (dim, dim + d1, 1, 1),
        "reduce_noise_channel_2": (2 * dim, 2 * dim + d2, 1, 1),
        "reduce_noise_channel_3": (4 * dim, 4 * dim + r3, 1, 1),
    }


class PromptGenBlock(nn.Module):
    """Prompt generation: softmax weights from pooled features mix L learned components,
    resized to the features' size and refined by a 3x3 convolution."""

    def __init__(self, prompt_dim, prompt_len, prompt_size, lin_dim):
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, 3, padding=1, bias=False)

    def forward(self, x):
        a = ops.softmax(ops.linear(ops.global_avg_pool(x), weight=self.linear_layer.weight, bias=self.linear_layer.bias))
        prompt = ops.mix_components(a, components=self.prompt_param[0])
        return self.conv3x3(ops.resize_bilinear(prompt, x))

    def emit(self, g, x, name):
        t = g.node("global_avg_pool", f"{name}.pool", [x])
        lin = self.linear_layer
        t = g.node("linear", f"{name}.linear_layer", [t], {}, {"weight": g.param(lin.weight), "bias": g.param(lin.bias)})
        t = g.node("softmax", f"{name}.softmax", [t])
        # mix_components takes [L, D, S, S]; the checkpoint holds [1, L, D, S, S].
        components = g.tensor(g.param_names[id(self.prompt_param)], self.prompt_param[0])
        t = g.node("mix_components", f"{name}.mix", [t], {}, {"components": components})
        t = g.node("resize_bilinear", f"{name}.resize", [t, x])
        return emit_conv(g, self.conv3x3, t, f"{name}.conv3x3")


class PromptIR(UNet):
    """The authors' PromptIR with its prompt blocks (`decoder=True`); defaults are their
    published configuration. prompt_dims/prompt_sizes: D and S of prompt1, 2, 3."""

    def __init__(self, dim=48, blocks=(4, 6, 6, 8), refinement=4, heads=(1, 2, 4, 8), ffn_factor=2.66, bias=False,
                 layer_norm="with_bias", prompt_dims=(64, 128, 320), prompt_len=5, prompt_sizes=(64, 32, 16),
                 unused: dict[str, tuple] | None = None):
        super().__init__()
        check_levels(blocks, heads)
        d1, d2, d3 = prompt_dims
        level = lambda n, c, h: Blocks(n, c, h, ffn_factor, bias, layer_norm)  # noqa: E731
        # The authors give every prompt level's block heads[2].
        block = lambda c: TransformerBlock(c, heads[2], ffn_factor, bias, layer_norm)  # noqa: E731
        unused = unused or unused_shapes(dim, prompt_dims)
        conv1x1 = lambda name: nn.Conv2d(unused[name][1], unused[name][0], tuple(unused[name][2:]), bias=bias)  # noqa: E731
        self.patch_embed = OverlapPatchEmbed(3, dim)
        self.prompt1 = PromptGenBlock(d1, prompt_len, prompt_sizes[0], 2 * dim)
        self.prompt2 = PromptGenBlock(d2, prompt_len, prompt_sizes[1], 4 * dim)
        self.prompt3 = PromptGenBlock(d3, prompt_len, prompt_sizes[2], 8 * dim)
        self.chnl_reduce1 = conv1x1("chnl_reduce1")
        self.chnl_reduce2 = conv1x1("chnl_reduce2")
        self.chnl_reduce3 = conv1x1("chnl_reduce3")
        self.reduce_noise_channel_1 = conv1x1("reduce_noise_channel_1")
        self.encoder_level1 = level(blocks[0], dim, heads[0])
        self.down1_2 = Downsample(dim)
        self.reduce_noise_channel_2 = conv1x1("reduce_noise_channel_2")
        self.encoder_level2 = level(blocks[1], 2 * dim, heads[1])
        self.down2_3 = Downsample(2 * dim)
        self.reduce_noise_channel_3 = conv1x1("reduce_noise_channel_3")
        self.encoder_level3 = level(blocks[2], 4 * dim, heads[2])
        self.down3_4 = Downsample(4 * dim)
        self.latent = level(blocks[3], 8 * dim, heads[3])
        # Unlike Restormer, the latent is reduced to 4 dim (after its prompt) before upsampling.
        self.up4_3 = Upsample(4 * dim)
        self.reduce_chan_level3 = nn.Conv2d(2 * dim + 4 * dim, 4 * dim, 1, bias=bias)
        self.noise_level3 = block(8 * dim + d3)
        self.reduce_noise_level3 = nn.Conv2d(8 * dim + d3, 4 * dim, 1, bias=bias)
        self.decoder_level3 = level(blocks[2], 4 * dim, heads[2])
        self.up3_2 = Upsample(4 * dim)
        self.reduce_chan_level2 = nn.Conv2d(4 * dim, 2 * dim, 1, bias=bias)
        self.noise_level2 = block(4 * dim + d2)
        self.reduce_noise_level2 = nn.Conv2d(4 * dim + d2, 4 * dim, 1, bias=bias)
        self.decoder_level2 = level(blocks[1], 2 * dim, heads[1])
        self.up2_1 = Upsample(2 * dim)
        self.noise_level1 = block(2 * dim + d1)
        self.reduce_noise_level1 = nn.Conv2d(2 * dim + d1, 2 * dim, 1, bias=bias)
        self.decoder_level1 = level(blocks[0], 2 * dim, heads[0])
        self.refinement = level(refinement, 2 * dim, heads[0])
        self.output = nn.Conv2d(2 * dim, 3, 3, padding=1, bias=bias)

    def _parts(self, level):
        return getattr(self, f"prompt{level}"), getattr(self, f"noise_level{level}"), getattr(self, f"reduce_noise_level{level}")

    def stage(self, level, x):
        """Prompt block after the latent (3) and decoder levels 3 (2) and 2 (1)."""
        prompt, block, reduce = self._parts(level)
        return reduce(block(ops.concat(x, prompt(x))))

    def emit_stage(self, g, level, x):
        prompt, block, reduce = self._parts(level)
        p = prompt.emit(g, x, f"prompt{level}")
        t = block.emit(g, g.node("concat", f"concat_prompt{level}", [x, p]), f"noise_level{level}")
        return emit_conv(g, reduce, t, f"reduce_noise_level{level}")
