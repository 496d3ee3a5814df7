"""CLIP image and text encoders (ViT and ModifiedResNet), fp32: OpenAI's models, and open_clip's (openclip.py),
which share the layout and differ only in the transformer MLP activation (``quick_gelu``) and head widths.

Written from the published architecture (dd-algorithm.md §7); parameter names match OpenAI's released files
(``visual.transformer.resblocks.0.attn.in_proj_weight``, ``visual.layer1.0.conv1.weight``,
``visual.attnpool.positional_embedding``, ``token_embedding.weight``, ``ln_final.weight`` ...) and open_clip's
state dicts of the same models.

Shapes: image encoder ``image: (B, 3, R, R)`` (already CLIP-normalised) -> ``image_embed: (B, D)``;
text encoder ``tokens: (B, 77)`` int64 -> ``text_embed: (B, D)`` (pooled at the largest token id, the EOT).
"""

from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .layers import avg_pool2x2, relu_finite

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408


@dataclass(frozen=True)
class CLIPConfig:
    """One CLIP architecture. ``vision_layers`` is an int for a ViT and a 4-tuple for a ModifiedResNet."""

    name: str
    embed_dim: int
    image_resolution: int
    vision_layers: object
    vision_width: int
    vision_patch_size: int  # 0 for ModifiedResNet
    text_width: int
    text_heads: int
    text_layers: int = 12
    vision_heads: int = 0  # 0: derived (ViT width/64, ResNet width*32/64)
    context_length: int = CONTEXT_LENGTH
    vocab_size: int = VOCAB_SIZE
    tiny: bool = False
    # OpenAI's models use QuickGELU (x·σ(1.702x)) in every transformer MLP; open_clip's configs without the
    # ``-quickgelu`` suffix use exact (erf) GELU, whatever activation the weights were trained with.
    quick_gelu: bool = True

    @property
    def is_vit(self):
        return isinstance(self.vision_layers, int)

    @property
    def heads(self):
        if self.vision_heads:
            return self.vision_heads
        return self.vision_width // 64 if self.is_vit else self.vision_width * 32 // 64

    def as_manifest(self):
        d = asdict(self)
        d["vision_layers"] = self.vision_layers if self.is_vit else list(self.vision_layers)
        d["vision_heads"] = self.heads
        d["kind"] = "vit" if self.is_vit else "modified_resnet"
        return d


def _vit(name, embed, res, layers, width, patch, tw, th):
    return CLIPConfig(name, embed, res, layers, width, patch, tw, th)


def _rn(name, embed, res, layers, width, tw, th):
    return CLIPConfig(name, embed, res, tuple(layers), width, 0, tw, th)


# Keyed by Disco Diffusion's flag names.
CONFIGS = {
    "ViTB32": _vit("ViT-B/32", 512, 224, 12, 768, 32, 512, 8),
    "ViTB16": _vit("ViT-B/16", 512, 224, 12, 768, 16, 512, 8),
    "ViTL14": _vit("ViT-L/14", 768, 224, 24, 1024, 14, 768, 12),
    "ViTL14_336px": _vit("ViT-L/14@336px", 768, 336, 24, 1024, 14, 768, 12),
    "RN50": _rn("RN50", 1024, 224, (3, 4, 6, 3), 64, 512, 8),
    "RN101": _rn("RN101", 512, 224, (3, 4, 23, 3), 64, 512, 8),
    "RN50x4": _rn("RN50x4", 640, 288, (4, 6, 10, 6), 80, 640, 10),
    "RN50x16": _rn("RN50x16", 768, 384, (6, 8, 18, 8), 96, 768, 12),
    "RN50x64": _rn("RN50x64", 1024, 448, (3, 15, 36, 10), 128, 1024, 16),
}

# OpenAI's download file names (clip.py _MODELS), for the download command.
OPENAI_FILES = {
    "ViTB32": "ViT-B-32.pt", "ViTB16": "ViT-B-16.pt", "ViTL14": "ViT-L-14.pt",
    "ViTL14_336px": "ViT-L-14-336px.pt", "RN50": "RN50.pt", "RN101": "RN101.pt",
    "RN50x4": "RN50x4.pt", "RN50x16": "RN50x16.pt", "RN50x64": "RN50x64.pt",
}


def tiny_config(flag):
    """Small stand-in of the same kind (ViT or ModifiedResNet) with the real context length and vocabulary."""
    return tiny_of(CONFIGS[flag])


def tiny_of(real):
    """Tiny version of ``real``: same kind and activation; patch 32 -> 16, smaller patches -> 8."""
    common = dict(text_width=8, text_heads=2, text_layers=1, tiny=True, quick_gelu=real.quick_gelu)
    if real.is_vit:
        patch = 16 if real.vision_patch_size == 32 else 8
        return CLIPConfig(real.name, 32, 32, 2, 32, patch, vision_heads=2, **common)
    return CLIPConfig(real.name, 32, 64, (1, 1, 1, 1), 8, 0, vision_heads=4, **common)


class LayerNorm(nn.LayerNorm):
    """LayerNorm evaluated in fp32."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class MultiheadSelfAttention(nn.Module):
    """Self-attention with ``nn.MultiheadAttention``'s parameter names. x: (N, L, W) -> (N, L, W)."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.normal_(self.in_proj_bias, std=0.02)

    def forward(self, x, mask=None):
        n, seq, w = x.shape
        hd = w // self.heads
        q, k, v = torch.nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q = q.reshape(n, seq, self.heads, hd).transpose(1, 2) * hd ** -0.5
        k = k.reshape(n, seq, self.heads, hd).transpose(1, 2)
        v = v.reshape(n, seq, self.heads, hd).transpose(1, 2)
        scores = q @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        out = torch.softmax(scores, dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(n, seq, w))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block. x: (N, L, W) -> (N, L, W)."""

    def __init__(self, width, heads, quick_gelu=True):
        super().__init__()
        self.attn = MultiheadSelfAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        act = QuickGELU() if quick_gelu else nn.GELU()
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)), ("gelu", act), ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = LayerNorm(width)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, quick_gelu=True):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, quick_gelu) for _ in range(layers)])

    def forward(self, x, mask=None):
        for block in self.resblocks:
            x = block(x, mask)
        return x


class VisionTransformer(nn.Module):
    """ViT image tower. x: (N, 3, R, R) -> (N, D)."""

    def __init__(self, resolution, patch, width, layers, heads, output_dim, quick_gelu=True):
        super().__init__()
        self.input_resolution = resolution
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, quick_gelu)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        n, w = x.shape[0], x.shape[1]
        x = x.reshape(n, w, -1).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(n, 1, w), x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


class BatchNorm2d(nn.BatchNorm2d):
    """Eval-mode BatchNorm written as one affine map (its gradient decomposes to plain multiplies). In training
    mode (the toy set's RN50, trained here) it normalises by batch statistics as nn.BatchNorm2d does; every
    export runs in eval mode (export.py)."""

    def forward(self, x):
        if self.training:
            return super().forward(x)
        inv = self.weight / torch.sqrt(self.running_var + self.eps)
        return x * inv[None, :, None, None] + (self.bias - self.running_mean * inv)[None, :, None, None]


class Down(nn.Module):
    """2x2 average pool (``nn.AvgPool2d(2)``)."""

    def forward(self, x):
        return avg_pool2x2(x)


class Bottleneck(nn.Module):
    """CLIP's anti-aliased bottleneck (avg-pool before the strided path). (N, C, H, W) -> (N, 4P, H/s, W/s)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.avgpool = Down() if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", Down() if stride > 1 else nn.Identity()),
                ("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False)),
                ("1", BatchNorm2d(planes * 4))]))

    def forward(self, x):
        # relu_finite: the guidance gradient reaching a CLIP model is finite (layers.py says why it matters)
        out = relu_finite(self.bn1(self.conv1(x)))
        out = relu_finite(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return relu_finite(out + identity)


class AttentionPool2d(nn.Module):
    """Attention pooling: the mean token queries all tokens. x: (N, C, H, W) -> (N, D)."""

    def __init__(self, spacial_dim, embed_dim, num_heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.num_heads = num_heads

    def forward(self, x):
        n, c = x.shape[0], x.shape[1]
        x = x.reshape(n, c, -1).transpose(1, 2)  # (N, HW, C)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding
        seq, hd = x.shape[1], c // self.num_heads
        q = self.q_proj(x[:, :1]).reshape(n, 1, self.num_heads, hd).transpose(1, 2) * hd ** -0.5
        k = self.k_proj(x).reshape(n, seq, self.num_heads, hd).transpose(1, 2)
        v = self.v_proj(x).reshape(n, seq, self.num_heads, hd).transpose(1, 2)
        out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v  # (N, heads, 1, hd)
        return self.c_proj(out.transpose(1, 2).reshape(n, c))


class ModifiedResNet(nn.Module):
    """CLIP's ResNet: 3-conv stem, anti-aliased strides, attention pooling. x: (N, 3, R, R) -> (N, D)."""

    def __init__(self, layers, output_dim, heads, resolution, width):
        super().__init__()
        self.input_resolution = resolution
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = BatchNorm2d(width)
        self.avgpool = Down()
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.attnpool = AttentionPool2d(resolution // 32, width * 32, heads, output_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = relu_finite(self.bn1(self.conv1(x)))
        x = relu_finite(self.bn2(self.conv2(x)))
        x = self.avgpool(relu_finite(self.bn3(self.conv3(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class CLIP(nn.Module):
    """Both towers. ``encode_image(image: (N,3,R,R)) -> (N,D)``, ``encode_text(tokens: (N,77) int64) -> (N,D)``."""

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.is_vit:
            self.visual = VisionTransformer(cfg.image_resolution, cfg.vision_patch_size, cfg.vision_width,
                                            cfg.vision_layers, cfg.heads, cfg.embed_dim, cfg.quick_gelu)
        else:
            self.visual = ModifiedResNet(cfg.vision_layers, cfg.embed_dim, cfg.heads, cfg.image_resolution,
                                         cfg.vision_width)
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads, cfg.quick_gelu)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(torch.randn(cfg.context_length, cfg.text_width) * 0.01)
        self.ln_final = LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(torch.randn(cfg.text_width, cfg.embed_dim) * cfg.text_width ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, tokens):
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.attn_mask))
        eot = tokens.argmax(dim=-1)
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection

    def forward(self, image, tokens):
        """Both embeddings (the signature used when saving TorchScript archives in tests)."""
        return self.encode_image(image), self.encode_text(tokens)


class ImageEncoder(nn.Module):
    """image: (B, 3, R, R) normalised -> image_embed: (B, D)."""

    def __init__(self, clip):
        super().__init__()
        self.visual = clip.visual

    def forward(self, image):
        return self.visual(image)


class ImageLoss(nn.Module):
    """(image: (B, 3, R, R), targets: (P, D), weights: (P,)) -> (loss: (1,), image_embed: (B, D)).

    DD's CLIP loss summed over cuts and prompts, ``Σ_c Σ_p w_p·2·asin(‖ê_c − t̂_p‖/2)²`` with rows L2-normalised
    (eps 1e-12; dd-algorithm.md §5.6). Its VJP with upstream ``s`` is the gradient of ``s·loss`` with respect to the
    cuts: the guidance graph gets the embeddings and the cut gradient from one pass (no second forward for the
    backward). The renderer passes ``s = clip_guidance_scale / (cutn_batches · cuts)``, which makes the sum DD's mean
    over cuts even when the cuts go through the graph in chunks. r/2 is capped at 1 as in the renderer's formula.
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, image, targets, weights):
        embed = self.encoder(image)
        e = F.normalize(embed, dim=-1)
        t = F.normalize(targets, dim=-1)
        chord = (e[:, None, :] - t[None, :, :]).norm(dim=-1)
        dist = (chord / 2).clamp(max=1).asin().pow(2) * 2
        return (dist * weights).sum().reshape(1), embed


class TextEncoder(nn.Module):
    """tokens: (B, 77) int64 -> text_embed: (B, D)."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, tokens):
        return self.clip.encode_text(tokens)


SOT, EOT = 49406, 49407


def sample_tokens(batch, gen, context_length=CONTEXT_LENGTH):
    """Random token rows like clip.tokenize's: SOT, ids < 49406, EOT at a random position, zero padding.

    Returns int64 (B, 77).
    """
    tokens = torch.zeros(batch, context_length, dtype=torch.int64)
    for i in range(batch):
        n = int(torch.randint(1, context_length - 1, (1,), generator=gen))
        tokens[i, 0] = SOT
        tokens[i, 1:n] = torch.randint(1, SOT, (n - 1,), generator=gen)
        tokens[i, n] = EOT
    return tokens


def graph_specs(flag, model, two_pass=False):
    """Per CLIP model: text ``tokens -> text_embed``, image ``image -> image_embed`` and the fused guidance graph
    image_loss_vjp ``(image, targets, weights, upstream) -> (image_embed, grad_image)`` (ImageLoss); with
    ``two_pass`` also the plain image VJP ``(image, upstream) -> (image_embed, grad_image)`` that model sets before
    the fused graph used (the tiny test set keeps both, so the two paths can be compared).

    tokens: (B, 77) int64; image, grad_image: (B, 3, R, R); text_embed, image_embed: (B, D); targets: (P, D);
    weights: (P,); upstream: (B, D) for image_vjp, (1,) (the loss scale) for image_loss_vjp.
    """
    from .export import GraphSpec, TensorSpec
    cfg = model.cfg
    r, d = cfg.image_resolution, cfg.embed_dim
    image = TensorSpec("image", "float32", ["B", 3, r, r])
    emb = TensorSpec("image_embed", "float32", ["B", d])
    grad = TensorSpec("grad_image", "float32", image.shape)

    def sample_image(batch, gen, size=None):
        """image ~ N(0, 1): (B, 3, R, R) (normalised pixels)."""
        return [torch.randn(batch, 3, r, r, generator=gen)]

    def sample_loss_inputs(batch, gen, size=None):
        """image as above; P = B + 1 prompts (3 at the trace batch, so P is not specialised) with targets ~ N(0, 1)
        and weights ~ U(−0.5, 1) (DD allows negative prompt weights)."""
        p = batch + 1
        return sample_image(batch, gen) + [torch.randn(p, d, generator=gen),
                                           torch.rand(p, generator=gen) * 1.5 - 0.5]

    image_encoder = ImageEncoder(model)
    specs = {
        "text": GraphSpec(f"clip_{flag}_text", TextEncoder(model),
                          [TensorSpec("tokens", "int64", ["B", cfg.context_length])],
                          [TensorSpec("text_embed", "float32", ["B", d])],
                          lambda b, g, size=None: [sample_tokens(b, g, cfg.context_length)]),
        "image": GraphSpec(f"clip_{flag}_image", image_encoder, [image], [emb], sample_image),
        "image_loss_vjp": GraphSpec(
            f"clip_{flag}_image_loss_vjp", ImageLoss(image_encoder),
            [image, TensorSpec("targets", "float32", ["P", d]), TensorSpec("weights", "float32", ["P"])],
            [emb, grad], sample_loss_inputs, vjp=True, has_aux=True,
            upstream=TensorSpec("upstream", "float32", [1])),
    }
    if two_pass:
        specs["image_vjp"] = GraphSpec(f"clip_{flag}_image_vjp", image_encoder, [image], [emb, grad], sample_image,
                                       vjp=True, upstream=TensorSpec("upstream", "float32", ["B", d]))
    return specs
