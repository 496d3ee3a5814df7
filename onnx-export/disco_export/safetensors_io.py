"""Reading ``.safetensors`` files (open_clip's Hugging Face uploads, ``open_clip_model.safetensors``) without the
safetensors package.

Format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets into the data that follows the header; an optional
``__metadata__`` entry holds strings), then the raw little-endian tensor data.
"""

import json
import struct

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
MAX_HEADER = 100 << 20


def is_safetensors(path):
    """Whether ``path`` starts like a safetensors file (a sane header length followed by a JSON object)."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= MAX_HEADER and head[8:9] == b"{"


def load(path):
    """``{name: tensor}`` of a safetensors file. Raises ValueError for a malformed file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER:
            raise ValueError(f"header of {n} bytes")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, rec in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(rec.get("dtype"))
        begin, end = rec["data_offsets"]
        shape = [int(d) for d in rec["shape"]]
        if dtype is None or not 0 <= begin <= end <= len(data):
            raise ValueError(f"tensor {name}: bad dtype or offsets {rec}")
        count = 1
        for d in shape:
            count *= d
        if (end - begin) != count * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f"tensor {name}: {end - begin} bytes for shape {shape}")
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape)
    return out
