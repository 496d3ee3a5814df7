"""guided-diffusion ``UNetModel`` (unconditional, ``learn_sigma=True``) as Disco Diffusion configures it.

Written from the published architecture (dd-algorithm.md §4.1); parameter names follow the official
checkpoints (``input_blocks.0.0.weight``, ``middle_block.1.qkv.weight``, ``out.2.weight`` ...), so
``load_state_dict(strict=True)`` accepts ``512x512_diffusion_uncond_finetune_008100.pt`` and
``256x256_diffusion_uncond.pt`` unchanged, and so does every other model of unet_catalog.py (the portrait
and KaliYuga fine-tunes, custom models).

Precision: fp32, or, after ``convert_to_fp16()``, guided-diffusion's mixed precision as DD runs it on a GPU
(``use_fp16``): the convolutions of the encoder, middle and decoder blocks hold fp16 weights and the torso computes
in fp16, while the time embedding, the linear layers, GroupNorm (guided-diffusion's ``GroupNorm32``), the attention
softmax and the output layers stay fp32. Inputs and outputs are fp32 either way.

Forward: ``eps_full = UNet(x, t)`` with x: shape (B, 3, H, W), t: shape (B,) float timesteps in [0, 1000),
eps_full: shape (B, 6, H, W) (channels 0..2 = eps, 3..5 = variance interpolation).
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

from .attention import attention
from .layers import avg_pool2x2, subsample2x, upsample_nearest2x
from .unet_catalog import CONFIGS, TINY_CONFIGS, UNetConfig, graph_prefix  # noqa: F401 - re-exported: unet.CONFIGS

__all__ = ["CONFIGS", "TINY_CONFIGS", "UNetConfig", "UNetModel", "graph_specs"]


class GroupNorm32(nn.GroupNorm):
    """GroupNorm evaluated in fp32 (guided-diffusion's ``normalization``)."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def timestep_embedding(t, dim, max_period=10000):
    """Sinusoidal embedding, cos first. t: shape (B,) -> shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Downsample(nn.Module):
    """Stride-2 3x3 conv (``op``) or 2x2 average pool. x: (B, C, H, W) -> (B, C', H/2, W/2)."""

    def __init__(self, channels, use_conv, out_channels=None):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.op = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1)

    def forward(self, x):
        if not self.use_conv:
            return avg_pool2x2(x)
        # = self.op(x) (stride 2, padding 1) on even sizes, as a stride-1 conv and a subsample (layers.py says why)
        return subsample2x(F.conv2d(x, self.op.weight, self.op.bias, padding=1))


class Upsample(nn.Module):
    """Nearest x2, then an optional 3x3 ``conv``. x: (B, C, H, W) -> (B, C', 2H, 2W)."""

    def __init__(self, channels, use_conv, out_channels=None):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x):
        x = upsample_nearest2x(x)
        return self.conv(x) if self.use_conv else x


class ResBlock(nn.Module):
    """Residual block conditioned on the time embedding; optionally resamples (``up``/``down``).

    x: (B, C, H, W), emb: (B, E) -> (B, C_out, H', W').
    """

    def __init__(self, channels, emb_channels, out_channels, groups, use_scale_shift_norm, up=False, down=False):
        super().__init__()
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            GroupNorm32(groups, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd = Upsample(channels, False)
            self.x_upd = Upsample(channels, False)
        elif down:
            self.h_upd = Downsample(channels, False)
            self.x_upd = Downsample(channels, False)
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(groups, out_channels), nn.SiLU(), nn.Dropout(p=0.0),
            nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x, emb):
        if self.updown:
            h = self.in_layers[1](self.in_layers[0](x))
            h = self.in_layers[2](self.h_upd(h))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[1](h))
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Spatial self-attention with guided-diffusion's legacy QKV layout (heads split before q/k/v).

    x: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels, num_heads, num_head_channels, groups, new_order=False):
        super().__init__()
        self.num_heads = num_heads if num_head_channels == -1 else channels // num_head_channels
        self.new_order = new_order
        self.norm = GroupNorm32(groups, channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        xf = x.reshape(b, c, h * w)
        qkv = self.qkv(self.norm(xf))
        ch = c // self.num_heads
        if self.new_order:  # QKVAttention: split q, k, v first, then heads
            q, k, v = (z.reshape(b * self.num_heads, ch, h * w) for z in qkv.chunk(3, dim=1))
        else:  # QKVAttentionLegacy: heads first
            q, k, v = qkv.reshape(b * self.num_heads, 3 * ch, h * w).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        # the plain softmax(qᵀk)·v in eager mode; query slices without an N×N matrix in exported graphs
        a = attention(q * scale, k * scale, v).reshape(b, c, h * w)
        return (xf + self.proj_out(a)).reshape(b, c, h, w)


class TimestepSequential(nn.Sequential):
    """Sequential that hands the time embedding to the ResBlocks inside."""

    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class UNetModel(nn.Module):
    """The guided-diffusion UNet. forward(x: (B, 3, H, W), t: (B,)) -> eps_full: (B, 6, H, W)."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        mc, g = cfg.num_channels, cfg.norm_groups
        emb_dim = mc * 4
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def res(ch_in, ch_out, **kw):
            return ResBlock(ch_in, emb_dim, ch_out, g, cfg.use_scale_shift_norm, **kw)

        def attn(ch, heads=cfg.num_heads):
            return AttentionBlock(ch, heads, cfg.num_head_channels, g, cfg.use_new_attention_order)

        heads_up = cfg.num_heads if cfg.num_heads_upsample == -1 else cfg.num_heads_upsample

        ch = input_ch = int(cfg.channel_mult[0] * mc)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
        skip_chans = [ch]
        ds = 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers = [res(ch, int(mult * mc))]
                ch = int(mult * mc)
                if ds in cfg.attention_ds:
                    layers.append(attn(ch))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                down = res(ch, ch, down=True) if cfg.resblock_updown else Downsample(ch, cfg.conv_resample, ch)
                self.input_blocks.append(TimestepSequential(down))
                skip_chans.append(ch)
                ds *= 2
        self.middle_block = TimestepSequential(res(ch, ch), attn(ch), res(ch, ch))
        self.output_blocks = nn.ModuleList([])
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), int(mc * mult))]
                ch = int(mc * mult)
                if ds in cfg.attention_ds:
                    layers.append(attn(ch, heads_up))
                if level and i == cfg.num_res_blocks:
                    layers.append(res(ch, ch, up=True) if cfg.resblock_updown else Upsample(ch, cfg.conv_resample, ch))
                    ds //= 2
                self.output_blocks.append(TimestepSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(g, ch), nn.SiLU(), nn.Conv2d(input_ch, cfg.out_channels, 3, padding=1))
        self.dtype = torch.float32

    def convert_to_fp16(self):
        """guided-diffusion's ``convert_to_fp16``: the torso's convolutions to fp16, and the torso computes in fp16
        (the module doc says what stays fp32). Returns self."""
        for blocks in (self.input_blocks, self.middle_block, self.output_blocks):
            for m in blocks.modules():
                if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                    m.weight.data = m.weight.data.half()
                    if m.bias is not None:
                        m.bias.data = m.bias.data.half()
        self.dtype = torch.float16
        return self

    def forward(self, x, t):
        emb = self.time_embed(timestep_embedding(t, self.cfg.num_channels))
        hs = []
        h = x.type(self.dtype)
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


class UNetEps(nn.Module):
    """eps part of the UNet output, for the VJP: (x: (B,3,H,W), t: (B,)) -> (eps: (B,3,H,W), eps_full: (B,C,H,W))

    with C = 6 (learn_sigma) or 3."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        out = self.unet(x, t)
        return out[:, :3], out


def sample_inputs(batch, gen, size):
    """x ~ N(0, 1): (B, 3, H, W); t ~ U[0, 1000): (B,)."""
    h, w = size
    return [torch.randn(batch, 3, h, w, generator=gen), torch.rand(batch, generator=gen) * 1000]


def precision_prefix(model):
    """The graph name prefix of ``model``: ``graph_prefix`` of its name, with ``_fp16`` after ``convert_to_fp16``."""
    prefix = graph_prefix(model.cfg.name)  # unet_fwd for DD's default model, unet_<name>_fwd for the others
    return prefix + "_fp16" if model.dtype == torch.float16 else prefix


# Verification bound of the fp16 graphs against the same fp16 module in eager PyTorch: fp16 rounding happens in
# other places (ONNX Runtime's CPU provider computes fp16 nodes in fp32 between casts); a wrong graph is off by O(1).
FP16_TOLERANCE = 5e-3


def graph_specs(model):
    """UNet forward ``(x, t) -> eps_full`` and VJP ``(x, t, upstream) -> (eps_full, grad_x)``, symbolic B, H, W.

    x, upstream, grad_x: (B, 3, H, W); t: (B,); eps_full: (B, 6, H, W). upstream is the cotangent of
    eps = eps_full[:, :3]. H and W must be multiples of 2^(levels-1) (64 for the 512 model). The I/O is fp32 also
    for an fp16 model (names ``<prefix>_fp16_fwd``, ``_vjp``).
    """
    from .export import GraphSpec, TensorSpec
    m = 2 ** (len(model.cfg.channel_mult) - 1)
    prefix = precision_prefix(model)
    img = ["B", 3, "H", "W"]
    x, t = TensorSpec("x", "float32", img), TensorSpec("t", "float32", ["B"])
    full = TensorSpec("eps_full", "float32", ["B", model.cfg.out_channels, "H", "W"])
    meta = {"size_multiple": m}
    tol = FP16_TOLERANCE if model.dtype == torch.float16 else None
    return {
        "forward": GraphSpec(f"{prefix}_fwd", model, [x, t], [full], sample_inputs, multiple=m, meta=meta,
                             tolerance=tol),
        "vjp": GraphSpec(f"{prefix}_vjp", UNetEps(model), [x, t], [full, TensorSpec("grad_x", "float32", img)],
                         sample_inputs, vjp=True, has_aux=True, upstream=TensorSpec("upstream", "float32", img),
                         multiple=m, meta=meta, tolerance=tol),
    }
