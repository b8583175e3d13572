"""Diffusion reconstruction at the base station (no ROS imports here).

``make_reconstructor(ReconstructionConfig(backend=...))`` gives a backend with
``reconstruct(decoded_frame) -> BGR image``: ``none`` (the codec's composition),
``embedded`` (the shipped small diffusion model, CPU-capable) or ``sd`` (Stable
Diffusion parts from diffusers, for GPU base stations that have the weights).
See docs/reconstruction.md.
"""
from semcomm_ros.reconstruction.backends import (
    BackendUnavailable,
    CompositionReconstructor,
    EmbeddedReconstructor,
    Reconstructor,
    make_reconstructor,
)
from semcomm_ros.reconstruction.config import (
    FIDELITY_END,
    REALISM_END,
    SHIPPED_CHECKPOINT,
    ReconstructionConfig,
    SDConfig,
)
from semcomm_ros.reconstruction.models import CheckpointError, DecoderSpec, EmbeddedDecoder

__all__ = [
    "BackendUnavailable", "CheckpointError", "CompositionReconstructor", "DecoderSpec",
    "EmbeddedDecoder", "EmbeddedReconstructor", "FIDELITY_END", "REALISM_END",
    "Reconstructor", "ReconstructionConfig", "SDConfig", "SHIPPED_CHECKPOINT",
    "make_reconstructor",
]
