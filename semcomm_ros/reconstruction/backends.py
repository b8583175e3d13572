"""Reconstruction backends behind one interface, and the factory that picks one.

``make_reconstructor(cfg)`` returns an object with ``name`` and ``reconstruct(decoded)``.
``decoded`` is the codec's ``DecodedFrame`` (or anything with ``image``,
``weight_map``, ``semantic_map``, ``level`` and ``sequence``). When the configured
backend cannot start (missing/corrupt checkpoint, no Stable Diffusion weights) the
factory logs one loud warning and returns the composition backend (``name == "none"``).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from semcomm_ros.reconstruction.config import ReconstructionConfig
from semcomm_ros.reconstruction.models import CheckpointError, EmbeddedDecoder
from semcomm_ros.reconstruction.pipeline import EmbeddedPipeline, keep_map

log = logging.getLogger("semcomm_ros.reconstruction.backends")


class BackendUnavailable(RuntimeError):
    """A backend cannot start here (weights or packages missing)."""


@dataclass
class Inputs:
    """Validated reconstruction inputs, all at the image's size."""

    image: np.ndarray         # HxWx3 uint8 BGR composite
    weight_map: np.ndarray    # HxW float32 [0,1]
    semantic_map: np.ndarray  # HxW uint16
    level: int
    sequence: int


def read_inputs(decoded) -> Inputs:
    """Check a DecodedFrame-like object; maps of another size are resized to the image."""
    image = getattr(decoded, "image", None)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("decoded.image must be a non-empty HxWx3 uint8 array, got "
                         f"{getattr(image, 'shape', type(image))}")
    h, w = image.shape[:2]
    weight = np.asarray(getattr(decoded, "weight_map", np.zeros((0, 0))), np.float32)
    if weight.ndim != 2:
        raise ValueError(f"decoded.weight_map must be 2-D, got shape {weight.shape}")
    if weight.size == 0:
        weight = np.zeros((h, w), np.float32)
    elif weight.shape != (h, w):
        weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR)
    if not np.isfinite(weight).all():
        raise ValueError("decoded.weight_map contains NaN or infinity")
    sem = np.asarray(getattr(decoded, "semantic_map", np.zeros((0, 0))))
    if sem.ndim != 2:
        raise ValueError(f"decoded.semantic_map must be 2-D, got shape {sem.shape}")
    sem = np.zeros((h, w), np.uint16) if sem.size == 0 else sem.astype(np.uint16)
    if sem.shape != (h, w):
        sem = cv2.resize(sem, (w, h), interpolation=cv2.INTER_NEAREST)
    return Inputs(image, np.clip(weight, 0.0, 1.0), sem, int(getattr(decoded, "level", 0)),
                  int(getattr(decoded, "sequence", 0)))


class Reconstructor(ABC):
    """Turns what arrived into the picture shown to the operator."""

    name: str = ""

    @abstractmethod
    def reconstruct(self, decoded) -> np.ndarray:
        """DecodedFrame -> HxWx3 uint8 BGR image of the same size."""


class CompositionReconstructor(Reconstructor):
    """Backend ``none``: the codec's composition, unchanged."""

    name = "none"

    def __init__(self, reason: str = ""):
        self.fallback_reason = reason

    def reconstruct(self, decoded) -> np.ndarray:
        """The composite as received (a copy)."""
        return read_inputs(decoded).image.copy()


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when present; ``cuda`` without CUDA -> cpu with a warning."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        log.warning("reconstruction.device=cuda but CUDA is not available: using the CPU")
        return torch.device("cpu")
    return torch.device("cuda")


class EmbeddedReconstructor(Reconstructor):
    """Backend ``embedded``: the project's small conditional diffusion model."""

    name = "embedded"

    def __init__(self, cfg: ReconstructionConfig, model: EmbeddedDecoder | None = None):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        model = model or EmbeddedDecoder.load(cfg.checkpoint_path())
        self.pipeline = EmbeddedPipeline(model, device=resolve_device(cfg.device))

    def reconstruct(self, decoded) -> np.ndarray:
        """One sampling run (seed = cfg.seed + frame sequence) blended with the composite."""
        x = read_inputs(decoded)
        keep = keep_map(x.weight_map, x.level, self.cfg.keep_low, self.cfg.keep_high)
        return self.pipeline(x.image, x.weight_map, x.semantic_map, keep,
                             steps=self.cfg.steps, eta=self.cfg.eta,
                             noise_scale=self.cfg.noise_scale,
                             seed=self.cfg.seed + x.sequence)


def _fallback(cfg: ReconstructionConfig, reason: str) -> CompositionReconstructor:
    log.warning("!!! reconstruction backend %r unavailable: %s -- FALLING BACK TO "
                "COMPOSITION ONLY (backend 'none'); see docs/reconstruction.md",
                cfg.backend, reason)
    return CompositionReconstructor(reason)


def make_reconstructor(cfg: ReconstructionConfig | None = None) -> Reconstructor:
    """The configured backend, or composition with a loud warning when it cannot start."""
    cfg = cfg or ReconstructionConfig()
    cfg.validate()
    if cfg.backend == "none":
        return CompositionReconstructor()
    if cfg.backend == "embedded":
        try:
            return EmbeddedReconstructor(cfg)
        except CheckpointError as exc:
            return _fallback(cfg, str(exc))
    from semcomm_ros.reconstruction.sd import SDReconstructor  # heavy, only when asked
    try:
        return SDReconstructor(cfg)
    except BackendUnavailable as exc:
        return _fallback(cfg, str(exc))
