"""RAFT optical flow (Teed & Deng 2020, princeton-vl/RAFT ``core/raft.py``), the large model DD's Video Input mode
runs with the ``raft-things.pth`` weights (dd-algorithm.md §10.5), fp32.

Architecture (``RAFT(args)`` with ``small=False``): a feature encoder ``fnet`` (7x7 stride-2 conv, instance norm,
three stages of two residual blocks at widths 64, 96 (stride 2), 128 (stride 2), a 1x1 conv to 256) applied to
both frames; a context encoder ``cnet`` of the same shape with batch norm and 256 = hidden 128 + context 128
outputs (tanh / ReLU); the all-pairs correlation of the two 1/8-resolution feature maps divided by sqrt(256),
average-pooled into a 4-level pyramid; and ``iters`` updates, each looking up the pyramid in a radius-4 window
around the current estimate (bilinear, ``grid_sample`` with aligned corners and zero padding: 4 x 81 values), a
motion encoder, a separable ConvGRU (1x5 then 5x1), a flow head and a mask head whose softmax-weighted 3x3
neighbourhoods upsample the 1/8 flow to full resolution (convex upsampling).

Parameter names match the released checkpoint (``module.`` from DataParallel is stripped by the loader):
``fnet.*``, ``cnet.*`` (``conv1``, ``norm1``, ``layer{1,2,3}.{0,1}.{conv1,conv2,norm1,norm2,norm3,downsample.0,
downsample.1}``, ``conv2``), ``update_block.encoder.{convc1,convc2,convf1,convf2,conv}``,
``update_block.gru.{convz1,convr1,convq1,convz2,convr2,convq2}``, ``update_block.flow_head.{conv1,conv2}``,
``update_block.mask.{0,2}``. A strided residual block registers its downsampling norm twice (as ``norm3`` and as
``downsample.1``), so batch-norm blocks carry both keys, as the checkpoint does.

Forward (DD's ``get_flow(frame1, frame2, model, iters=20)`` with ``test_mode=True``):
``flow = RAFT(image1, image2)``; images (B, 3, H, W) RGB in [0, 255] (PIL pixels as floats, as DD feeds them);
flow (B, 2, H, W) in pixels, x then y: pixel (x, y) of image1 is at (x + flow_x, y + flow_y) in image2. DD pads
frames to multiples of 8 (``InputPadder``, replicate); this graph takes H, W multiples of 64 and at least 128 (so
every pyramid level is at least 2 wide and the window lookup's normalisation is finite): the renderer pads.
DD runs the encoders and update block in mixed precision on a GPU; the graph is fp32.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SIZE_MULTIPLE = 64
MIN_SIDE = 128


@dataclass(frozen=True)
class RaftConfig:
    """One RAFT architecture: widths of the encoders and the update block, the pyramid, the iterations."""

    name: str
    stages: tuple = (64, 96, 128)   # encoder stage widths (the stem is stages[0] wide)
    feature_dim: int = 256          # fnet output
    hidden: int = 128               # GRU state
    context: int = 128              # context features
    corr_levels: int = 4
    corr_radius: int = 4
    corr_convs: tuple = (256, 192)  # motion encoder: correlation branch
    flow_convs: tuple = (128, 64)   # motion encoder: flow branch
    head_hidden: int = 256          # flow head and mask head
    iters: int = 20                 # DD's get_flow default

    def as_manifest(self):
        return {"name": self.name, "stages": list(self.stages), "feature_dim": self.feature_dim,
                "hidden": self.hidden, "context": self.context, "corr_levels": self.corr_levels,
                "corr_radius": self.corr_radius, "iters": self.iters}


RAFT_LARGE = RaftConfig("raft-things")
# The same graph at toy widths and 3 updates (the full pyramid and window: the lookup is the same code).
TINY_RAFT = RaftConfig("raft-things", stages=(8, 8, 16), feature_dim=16, hidden=8, context=8, corr_convs=(16, 12),
                       flow_convs=(8, 8), head_hidden=16, iters=3)


def _norm(kind, c):
    if kind == "instance":
        return nn.InstanceNorm2d(c)   # affine=False, no running stats: nothing in the state dict
    if kind == "batch":
        return nn.BatchNorm2d(c)
    raise ValueError(kind)


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout, norm, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm1 = _norm(norm, cout)
        self.norm2 = _norm(norm, cout)
        self.downsample = None
        if stride != 1:
            self.norm3 = _norm(norm, cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), self.norm3)

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y)


class BasicEncoder(nn.Module):
    """Stem (7x7 stride 2), three stages of two residual blocks (strides 1, 2, 2), a 1x1 output conv: 1/8 size."""

    def __init__(self, stages, out_dim, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stages[0], 7, stride=2, padding=3)
        self.norm1 = _norm(norm, stages[0])
        cin = stages[0]
        for i, (c, stride) in enumerate(zip(stages, (1, 2, 2))):
            setattr(self, f"layer{i + 1}", nn.Sequential(ResidualBlock(cin, c, norm, stride),
                                                          ResidualBlock(c, c, norm, 1)))
            cin = c
        self.conv2 = nn.Conv2d(cin, out_dim, 1)

    def forward(self, x):
        x = F.relu(self.norm1(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class MotionEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        planes = cfg.corr_levels * (2 * cfg.corr_radius + 1) ** 2
        c1, c2 = cfg.corr_convs
        f1, f2 = cfg.flow_convs
        self.convc1 = nn.Conv2d(planes, c1, 1)
        self.convc2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.convf1 = nn.Conv2d(2, f1, 7, padding=3)
        self.convf2 = nn.Conv2d(f1, f2, 3, padding=1)
        self.conv = nn.Conv2d(c2 + f2, cfg.hidden - 2, 3, padding=1)

    def forward(self, flow, corr):
        cor = F.relu(self.convc2(F.relu(self.convc1(corr))))
        flo = F.relu(self.convf2(F.relu(self.convf1(flow))))
        out = F.relu(self.conv(torch.cat([cor, flo], dim=1)))
        return torch.cat([out, flow], dim=1)


class SepConvGRU(nn.Module):
    def __init__(self, hidden, inp):
        super().__init__()
        for axis, (k, p) in (("1", ((1, 5), (0, 2))), ("2", ((5, 1), (2, 0)))):
            for gate in "zrq":
                setattr(self, f"conv{gate}{axis}", nn.Conv2d(hidden + inp, hidden, k, padding=p))

    def _half(self, h, x, axis):
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(getattr(self, f"convz{axis}")(hx))
        r = torch.sigmoid(getattr(self, f"convr{axis}")(hx))
        q = torch.tanh(getattr(self, f"convq{axis}")(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q

    def forward(self, h, x):
        return self._half(self._half(h, x, "1"), x, "2")


class FlowHead(nn.Module):
    def __init__(self, cin, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, 2, 3, padding=1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))


class UpdateBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.encoder = MotionEncoder(cfg)
        self.gru = SepConvGRU(cfg.hidden, cfg.context + cfg.hidden)
        self.flow_head = FlowHead(cfg.hidden, cfg.head_hidden)
        self.mask = nn.Sequential(nn.Conv2d(cfg.hidden, cfg.head_hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(cfg.head_hidden, 64 * 9, 1))

    def forward(self, net, inp, corr, flow):
        net = self.gru(net, torch.cat([inp, self.encoder(flow, corr)], dim=1))
        return net, 0.25 * self.mask(net), self.flow_head(net)


def coords_grid(batch, h, w, like):
    """(B, 2, h, w): x then y pixel coordinates."""
    ys = torch.arange(h, dtype=like.dtype, device=like.device).view(1, h, 1).expand(1, h, w)
    xs = torch.arange(w, dtype=like.dtype, device=like.device).view(1, 1, w).expand(1, h, w)
    return torch.cat([xs, ys], dim=0).unsqueeze(0).expand(batch, 2, h, w)


class RAFT(nn.Module):
    def __init__(self, cfg=RAFT_LARGE):
        super().__init__()
        self.cfg = cfg
        self.fnet = BasicEncoder(cfg.stages, cfg.feature_dim, "instance")
        self.cnet = BasicEncoder(cfg.stages, cfg.hidden + cfg.context, "batch")
        self.update_block = UpdateBlock(cfg)
        r = cfg.corr_radius
        d = torch.linspace(-r, r, 2 * r + 1)
        # RAFT's window: stack(meshgrid(dy, dx)) added to (x, y), so the first offset axis moves x.
        first, second = torch.meshgrid(d, d, indexing="ij")
        self.register_buffer("window", torch.stack([first, second], dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2),
                             persistent=False)

    def _pyramid(self, f1, f2):
        b, c, h, w = f1.shape
        corr = torch.matmul(f1.reshape(b, c, h * w).transpose(1, 2), f2.reshape(b, c, h * w))
        corr = (corr / (c ** 0.5)).reshape(b * h * w, 1, h, w)
        levels = [corr]
        for _ in range(self.cfg.corr_levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            levels.append(corr)
        return levels

    def _lookup(self, levels, coords):
        b, _, h, w = coords.shape
        centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
        out = []
        for i, corr in enumerate(levels):
            hl, wl = corr.shape[-2:]
            pts = centre / 2 ** i + self.window
            x, y = pts.split([1, 1], dim=-1)
            grid = torch.cat([2 * x / (wl - 1) - 1, 2 * y / (hl - 1) - 1], dim=-1)
            sampled = F.grid_sample(corr, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            out.append(sampled.reshape(b, h, w, -1))
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2)

    @staticmethod
    def _upsample(flow, mask):
        """Convex upsampling: each full-resolution flow vector is a softmax-weighted mix of the 3x3 coarse
        neighbours (zero outside) of 8 x the coarse flow."""
        b, _, h, w = flow.shape
        mask = torch.softmax(mask.reshape(b, 1, 9, 8, 8, h, w), dim=2)
        padded = F.pad(8 * flow, (1, 1, 1, 1))
        nbrs = torch.stack([padded[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], dim=2)
        up = torch.sum(mask * nbrs.reshape(b, 2, 9, 1, 1, h, w), dim=2)
        return up.permute(0, 1, 4, 2, 5, 3).reshape(b, 2, 8 * h, 8 * w)

    def forward(self, image1, image2):
        cfg = self.cfg
        image1 = 2 * (image1 / 255.0) - 1.0
        image2 = 2 * (image2 / 255.0) - 1.0
        b = image1.shape[0]
        fmaps = self.fnet(torch.cat([image1, image2], dim=0))
        f1, f2 = fmaps[:b], fmaps[b:]
        levels = self._pyramid(f1, f2)
        ctx = self.cnet(image1)
        net, inp = torch.tanh(ctx[:, :cfg.hidden]), torch.relu(ctx[:, cfg.hidden:])
        _, _, h, w = f1.shape
        coords0 = coords_grid(b, h, w, f1)
        coords1 = coords0
        mask = None
        for _ in range(cfg.iters):
            corr = self._lookup(levels, coords1)
            net, mask, delta = self.update_block(net, inp, corr, coords1 - coords0)
            coords1 = coords1 + delta
        return self._upsample(coords1 - coords0, mask)


def tiny_model(seed):
    """The tiny RAFT with random weights under ``seed`` and non-trivial batch-norm statistics."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = RAFT(TINY_RAFT)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def sample_inputs(batch, gen, size):
    """Two frames of pixels in [0, 255): (B, 3, H, W) each; the second a shifted, noisier copy of the first, so
    the flow is not arbitrary."""
    h, w = size
    a = torch.rand(batch, 3, h, w, generator=gen) * 255
    b = torch.roll(a, shifts=(2, 3), dims=(2, 3)) * 0.9 + torch.rand(batch, 3, h, w, generator=gen) * 25
    return [a, b]


def graph_specs(model):
    """Forward ``(image1, image2) -> flow`` with symbolic B, H, W (multiples of 64, at least 128)."""
    from .export import GraphSpec, TensorSpec
    ins = [TensorSpec("image1", "float32", ["B", 3, "H", "W"]), TensorSpec("image2", "float32", ["B", 3, "H", "W"])]
    out = TensorSpec("flow", "float32", ["B", 2, "H", "W"])
    meta = {"size_multiple": SIZE_MULTIPLE, "min_side": MIN_SIDE}
    return {"forward": GraphSpec("raft_fwd", model, ins, [out], sample_inputs, multiple=SIZE_MULTIPLE, meta=meta)}
