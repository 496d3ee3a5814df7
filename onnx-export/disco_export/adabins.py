"""AdaBins (shariqfarooq123/AdaBins ``UnetAdaptiveBins``) as DD builds it for NYU: ``n_bins=256``,
``min_val=1e-3``, ``max_val=10``; fp32.

An EfficientNet-B5 encoder (efficientnet.py, every stage's output kept), a U-Net decoder (``DecoderBN``: a 1x1
conv with padding 1, four upsample-concat-conv blocks, a 3x3 conv to 128 channels), the mini-ViT
(``mViT``: 16 px patches of the decoder's output embedded and encoded by 4 transformer layers; the first output
token regresses the bin widths, the next 128 are queries dotted with every pixel's features) and a 1x1 conv +
softmax over the bins; depth = Σ softmax · bin centres.

Parameter names match ``AdaBins_nyu.pt`` (its ``model`` entry): ``encoder.original_model.*`` (gen-efficientnet),
``decoder.{conv2,up1..up4._net.{0,1,3,4},conv3}``, ``adaptive_bins_layer.{patch_transformer.{embedding_convPxP,
positional_encodings,transformer_encoder.layers.<i>.*},conv3x3,regressor.{0,2,4}}``, ``conv_out.0``.

The graph is DD's ``InferenceHelper.predict`` (``DdPredict``): image (B, 3, H, W), H, W multiples of 32 with at
least 129 and at most 500 patches of 32x32 px (the decoder's output is H/2 and its patches are 16 px; DD scales
the frame to an area between 448² and 500000 px for this), normalised with ImageNet's mean and std -> depth
(B, H, W) in metres: the clipped mean of the predictions for the image and its mirror image, resized to the input.
Resizing the frame in and the depth back out (bicubic) is the renderer's (dd-algorithm.md §10.4).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import efficientnet

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE_MULTIPLE = 32
MIN_DEPTH, MAX_DEPTH = 1e-3, 10.0


@dataclass(frozen=True)
class AdaBinsConfig:
    name: str = "adabins_nyu"
    encoder: efficientnet.EffNetConfig = efficientnet.B5
    decoder: int = 2048        # the decoder's first width (= the encoder's head width for B5)
    out: int = 128             # decoder output channels = mViT embedding = query count
    n_bins: int = 256
    patch: int = 16
    heads: int = 4
    layers: int = 4
    ff: int = 1024
    positions: int = 500
    regressor: int = 256
    min_area: int = 448 * 448  # DD scales a frame into this area (px) for AdaBins
    max_area: int = 500000

    def as_manifest(self):
        return {"name": self.name, "n_bins": self.n_bins, "out": self.out, "patch": self.patch,
                "min_depth": MIN_DEPTH, "max_depth": MAX_DEPTH}


ADABINS_NYU = AdaBinsConfig()
# The same graph at toy widths: a one-block-per-stage EfficientNet at width x0.25, 8 queries of width 8, 4 px
# patches (so a 32x32 input still has 16 patches, more than the 9 tokens the head reads).
TINY_ADABINS = AdaBinsConfig(encoder=efficientnet.EffNetConfig(width_mult=0.25, depth_mult=0.5, stem=32, head=256),
                             decoder=32, out=8, n_bins=16, patch=4, heads=2, layers=2, ff=16, positions=500,
                             regressor=16)


class UpSampleBN(nn.Module):
    """Bilinear (aligned corners) to the skip's size, concatenate, twice (conv 3x3, BN, LeakyReLU 0.01)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self._net = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(),
                                  nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU())

    def forward(self, x, skip):
        up = F.interpolate(x, size=[skip.shape[2], skip.shape[3]], mode="bilinear", align_corners=True)
        return self._net(torch.cat([up, skip], dim=1))


class Decoder(nn.Module):
    """``DecoderBN``: reads the encoder's stages 0, 1, 2 and 4 and its head conv (features 4, 5, 6, 8, 11)."""

    def __init__(self, cfg, stage_widths, head_width):
        super().__init__()
        f = cfg.decoder
        s = stage_widths
        self.conv2 = nn.Conv2d(head_width, f, 1, padding=1)
        self.up1 = UpSampleBN(f + s[4], f // 2)
        self.up2 = UpSampleBN(f // 2 + s[2], f // 4)
        self.up3 = UpSampleBN(f // 4 + s[1], f // 8)
        self.up4 = UpSampleBN(f // 8 + s[0], f // 16)
        self.conv3 = nn.Conv2d(f // 16, cfg.out, 3, padding=1)

    def forward(self, feats):
        x = self.conv2(feats[11])
        x = self.up1(x, feats[8])
        x = self.up2(x, feats[6])
        x = self.up3(x, feats[5])
        return self.conv3(self.up4(x, feats[4]))


class PatchTransformerEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        e = cfg.out
        layer = nn.TransformerEncoderLayer(e, cfg.heads, dim_feedforward=cfg.ff)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=cfg.layers, enable_nested_tensor=False)
        self.embedding_convPxP = nn.Conv2d(e, e, cfg.patch, stride=cfg.patch)
        self.positional_encodings = nn.Parameter(torch.rand(cfg.positions, e))

    def forward(self, x):
        emb = self.embedding_convPxP(x).flatten(2)  # (B, E, S)
        emb = emb + self.positional_encodings[: emb.shape[2], :].T.unsqueeze(0)
        return self.transformer_encoder(emb.permute(2, 0, 1))  # (S, B, E)


class MiniViT(nn.Module):
    """``mViT`` with ``norm='linear'``: normalised bin widths and the range-attention maps."""

    def __init__(self, cfg):
        super().__init__()
        e = cfg.out
        self.n_queries = e
        self.patch_transformer = PatchTransformerEncoder(cfg)
        self.conv3x3 = nn.Conv2d(e, e, 3, padding=1)
        self.regressor = nn.Sequential(nn.Linear(e, cfg.regressor), nn.LeakyReLU(),
                                       nn.Linear(cfg.regressor, cfg.regressor), nn.LeakyReLU(),
                                       nn.Linear(cfg.regressor, cfg.n_bins))

    def forward(self, x):
        tgt = self.patch_transformer(x)
        x = self.conv3x3(x)
        # narrow, not tgt[1:Q + 1]: with a symbolic sequence length the exporter took that slice's length for S − 1
        # (the real-size graph then failed to export); narrow's length is the constant Q
        head, queries = tgt[0], tgt.narrow(0, 1, self.n_queries).permute(1, 0, 2)  # (B, E), (B, Q, E)
        maps = torch.einsum("bchw,bqc->bqhw", x, queries)
        y = torch.relu(self.regressor(head)) + 0.1
        return y / y.sum(dim=1, keepdim=True), maps


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.original_model = efficientnet.EfficientNet(cfg)


class UnetAdaptiveBins(nn.Module):
    """forward(image: (B, 3, H, W), ImageNet-normalised) -> depth: (B, H/2, W/2), metres."""

    def __init__(self, cfg=ADABINS_NYU):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.encoder)
        trunk = self.encoder.original_model
        self.decoder = Decoder(cfg, trunk.stage_widths, trunk.head_width)
        self.adaptive_bins_layer = MiniViT(cfg)
        self.conv_out = nn.Sequential(nn.Conv2d(cfg.out, cfg.n_bins, 1), nn.Softmax(dim=1))

    def forward(self, image):
        unet_out = self.decoder(self.encoder.original_model.features(image))
        widths, maps = self.adaptive_bins_layer(unet_out)
        probs = self.conv_out(maps)
        widths = F.pad((MAX_DEPTH - MIN_DEPTH) * widths, (1, 0), value=MIN_DEPTH)
        edges = torch.cumsum(widths, dim=1)
        centres = 0.5 * (edges[:, :-1] + edges[:, 1:])
        return (probs * centres[:, :, None, None]).sum(dim=1)


class DdPredict(nn.Module):
    """DD's ``InferenceHelper.predict``: the mean of the clipped predictions for the image and its mirror image,
    resized bilinearly (aligned corners) to the input size and clipped again (NaN → the minimum depth).

    forward(image: (B, 3, H, W), ImageNet-normalised) -> depth: (B, H, W), metres in [1e-3, 10]."""

    def __init__(self, cfg=ADABINS_NYU):
        super().__init__()
        self.cfg = cfg
        self.model = UnetAdaptiveBins(cfg)

    def forward(self, image):
        pred = self.model(image).clamp(MIN_DEPTH, MAX_DEPTH)
        mirrored = self.model(torch.flip(image, dims=[3])).clamp(MIN_DEPTH, MAX_DEPTH)
        final = 0.5 * (pred + torch.flip(mirrored, dims=[2]))
        final = F.interpolate(final[:, None], size=[image.shape[2], image.shape[3]], mode="bilinear",
                              align_corners=True)[:, 0]
        final = final.clamp(MIN_DEPTH, MAX_DEPTH)
        return torch.where(torch.isnan(final), torch.full_like(final, MIN_DEPTH), final)


def tiny_model(seed):
    """The tiny AdaBins with random weights under ``seed`` (BatchNorm statistics non-trivial, as trained ones)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DdPredict(TINY_ADABINS)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()  # inference: running BatchNorm statistics, no transformer dropout


def sample_inputs(batch, gen, size):
    """image ~ N(0, 1) (the normalised range): (B, 3, H, W)."""
    h, w = size
    return [torch.randn(batch, 3, h, w, generator=gen)]


def graph_specs(model):
    """Forward ``image -> depth`` (``DdPredict``) with symbolic B, H, W (multiples of 32)."""
    from .export import GraphSpec, TensorSpec
    image = TensorSpec("image", "float32", ["B", 3, "H", "W"])
    out = TensorSpec("depth", "float32", ["B", "H", "W"])
    meta = {"size_multiple": SIZE_MULTIPLE}
    return {"forward": GraphSpec(f"{model.cfg.name}_fwd", model, [image], [out], sample_inputs,
                                 multiple=SIZE_MULTIPLE, meta=meta, sizes=export_sizes(model.cfg))}


def export_sizes(cfg):
    """Trace and check sizes with at least one patch per query plus the head's token (the mini-ViT reads Q + 1
    tokens; the real model's 129 need 129 blocks of 32 px, more than the exporter's default 3×5-block trace), or
    None where the defaults have enough (the tiny model)."""
    per_block = (SIZE_MULTIPLE // 2 // cfg.patch) ** 2  # tokens per 32×32 block of the input
    if 2 * 2 * per_block >= cfg.out + 1:  # the smallest default size, 2×3 or 4×2 blocks, suffices
        return None
    m = SIZE_MULTIPLE
    return (12 * m, 14 * m), [(13 * m, 11 * m), (11 * m, 15 * m)]
