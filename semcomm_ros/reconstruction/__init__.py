"""Diffusion reconstruction at the base station (no ROS imports here).

``make_reconstructor(ReconstructionConfig(backend=...))`` gives a backend with
``reconstruct(decoded_frame) -> BGR image``: ``none`` (the codec's composition),
``embedded`` (the shipped small diffusion model, CPU-capable) or ``sd`` (Stable
Diffusion parts from diffusers, for GPU base stations that have the weights).
See docs/reconstruction.md.

The configuration classes import without torch; everything else is imported on first
use, so reading the node configuration does not pull in torch and diffusers.
"""
from __future__ import annotations

import importlib

from semcomm_ros.reconstruction.config import (
    FIDELITY_END,
    REALISM_END,
    SHIPPED_CHECKPOINT,
    ReconstructionConfig,
    SDConfig,
)

_LAZY = {
    "BackendUnavailable": "backends", "CompositionReconstructor": "backends",
    "EmbeddedReconstructor": "backends", "Reconstructor": "backends",
    "make_reconstructor": "backends", "CheckpointError": "models",
    "DecoderSpec": "models", "EmbeddedDecoder": "models",
}

__all__ = ["FIDELITY_END", "REALISM_END", "SHIPPED_CHECKPOINT", "ReconstructionConfig",
           "SDConfig", *_LAZY]


def __getattr__(name: str):
    """Import the torch-based parts on first access (PEP 562)."""
    if name in _LAZY:
        module = importlib.import_module(f"semcomm_ros.reconstruction.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
