"""disco_export: Disco Diffusion's models as ONNX forward and VJP graphs, plus tiny random-weight model sets."""

__version__ = "0.1.0"
