"""Synthetic hand data engine: renders articulated hands and writes datasets in RHD's native layout.

``python -m training.synth --out DIR --count N --seed S`` (see ``--help``).
"""
from .dataset import generate, render_sample

__all__ = ["generate", "render_sample"]
