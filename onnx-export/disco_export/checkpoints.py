"""Reading official checkpoints and checking them against the model definitions.

Formats: plain ``torch.save`` state dicts (guided-diffusion, secondary model, LPIPS heads, torchvision VGG16),
OpenAI CLIP's TorchScript archives, open_clip state dicts (optionally under ``state_dict`` with a
``module.`` prefix, or in the custom-text layout), and ``.safetensors`` files. Nothing here downloads anything (see ``download.py``).
"""

import hashlib
import warnings
from pathlib import Path

import torch

from . import safetensors_io

# Keys that OpenAI's TorchScript archives carry besides the weights (dropped by clip.build_model too), and the
# constant causal mask that a traced module may keep as a buffer.
CLIP_JIT_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size", "attn_mask")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the architecture."""


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _require(path):
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def read_state_dict(path):
    """Tensors of a checkpoint file as ``{key: tensor}`` (fp32), whichever supported format it has."""
    path = _require(path)
    if safetensors_io.is_safetensors(path):
        try:
            return _normalise(safetensors_io.load(path))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: malformed safetensors file ({e})") from e
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated, still the reader
            sd = torch.jit.load(str(path), map_location="cpu").state_dict()
        sd = {k: v for k, v in sd.items() if k not in CLIP_JIT_EXTRA_KEYS}
    except (RuntimeError, ValueError):
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
            raise CheckpointError(f"{path}: not a TorchScript archive or a torch.save state dict ({e})") from e
    # open_clip wraps the weights as {"state_dict": ...}; AdaBins' training checkpoints as {"model": ...}
    for wrapper in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(wrapper), dict):
            sd = sd[wrapper]
            break
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: holds a {type(sd).__name__}, not a state dict")
    return _normalise(sd)


def _normalise(sd):
    """Strip DataParallel's ``module.``, map open_clip's custom-text layout, widen floats to fp32."""
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    sd = from_custom_text_layout(sd)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}


def from_custom_text_layout(sd):
    """open_clip's ``CustomTextCLIP`` layout (text tower under ``text.``: ``text.token_embedding.weight``,
    ``text.transformer.resblocks.0...``, ``text.text_projection``) -> the CLIP layout, which has those keys at the
    top level. Other state dicts are returned unchanged.
    """
    if "text.token_embedding.weight" not in sd or "token_embedding.weight" in sd:
        return sd
    return {(k[len("text."):] if k.startswith("text.") else k): v for k, v in sd.items()}


def check_keys(model, sd, what, ignore=()):
    """Raise CheckpointError naming missing, unexpected and mis-shaped keys of ``sd`` for ``model``."""
    want = model.state_dict()
    missing = sorted(k for k in want if k not in sd)
    unexpected = sorted(k for k in sd if k not in want and not any(k.startswith(p) for p in ignore))
    shapes = sorted(f"{k}: checkpoint {tuple(sd[k].shape)}, model {tuple(want[k].shape)}"
                    for k in want if k in sd and tuple(sd[k].shape) != tuple(want[k].shape))
    if missing or unexpected or shapes:
        lines = [f"{what}: checkpoint does not match the architecture"]
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if items:
                lines.append(f"  {title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise CheckpointError("\n".join(lines))


def load_into(model, path, what, ignore=(), optional=()):
    """Load the checkpoint at ``path`` into ``model`` strictly; return the file's sha256.

    ``ignore``: key prefixes of the checkpoint to drop. ``optional``: key suffixes of the model that the checkpoint
    may lack (they keep the model's values, e.g. BatchNorm's ``num_batches_tracked``, unused at inference)."""
    sd = read_state_dict(path)
    sd = {k: v for k, v in sd.items() if not any(k.startswith(p) for p in ignore)}
    for k, v in model.state_dict().items():
        if k not in sd and any(k.endswith(s) for s in optional):
            sd[k] = v
    check_keys(model, sd, what)
    model.load_state_dict(sd, strict=True)
    return sha256_file(path)


def load_lpips(model, vgg_path, lin_path):
    """LPIPS from torchvision's ``vgg16`` weights (``features.<i>.*``) and the v0.1 heads (``lin<k>.model.1.weight``).

    Returns the sha256 of the two files joined as ``"<vgg>+<lin>"``.
    """
    vgg = read_state_dict(vgg_path)
    lin = read_state_dict(lin_path)
    sd = {k: v for k, v in model.state_dict().items() if k.startswith("scaling_layer.")}
    for name in model.state_dict():
        if name.startswith("net.slice"):
            idx = name.split(".", 3)[2:]  # [<features index>, weight|bias]
            key = f"features.{idx[0]}.{idx[1]}"
            if key in vgg:
                sd[name] = vgg[key]
    sd.update({k: v for k, v in lin.items()})
    check_keys(model, sd, f"LPIPS ({vgg_path} + {lin_path})")
    model.load_state_dict(sd, strict=True)
    return sha256_file(vgg_path) + "+" + sha256_file(lin_path)
