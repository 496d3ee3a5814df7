"""The toy model set: a procedural world of coloured shapes, its classifier, and the training scripts."""
