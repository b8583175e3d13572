"""Fixtures: a tiny embedded decoder and synthetic decoded frames.

The project runs pytest with ``--import-mode=importlib``, so test modules cannot import
each other: shared helpers are handed out as fixtures (``make_frame``, ``spec``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from semcomm_ros.reconstruction.models import DecoderSpec, EmbeddedDecoder

torch.set_num_threads(1)


@dataclass
class FakeDecoded:
    """Stands in for semcomm_ros.codec.DecodedFrame (same fields)."""

    image: np.ndarray
    weight_map: np.ndarray
    semantic_map: np.ndarray
    objects: list = field(default_factory=list)
    level: int = 2
    sequence: int = 0


def tiny_spec() -> DecoderSpec:
    """A ~0.1M-parameter decoder (patch 4, two levels): fast enough for unit tests."""
    return DecoderSpec(patch=4, block_out_channels=(16, 32), layers_per_block=1,
                       norm_num_groups=8, residual_scale=4.0)


def make_decoded(h: int = 45, w: int = 70, level: int = 2, seed: int = 0) -> FakeDecoded:
    """A frame with a high-weight object box (kept) on a low-weight background."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    weight = np.full((h, w), 0.1, np.float32)
    sem = np.zeros((h, w), np.uint16)
    weight[5:20, 10:30] = 0.9
    sem[5:20, 10:30] = 1
    return FakeDecoded(image, weight, sem, level=level)


@pytest.fixture
def spec():
    """Factory of the tiny decoder spec."""
    return tiny_spec


@pytest.fixture
def make_frame():
    """Factory of fake decoded frames: ``make_frame(h, w, level)``."""
    return make_decoded


@pytest.fixture
def tiny_model() -> EmbeddedDecoder:
    """A freshly initialised tiny decoder (seeded)."""
    torch.manual_seed(0)
    return EmbeddedDecoder(tiny_spec()).eval()


@pytest.fixture
def decoded() -> FakeDecoded:
    """A 45x70 frame with one kept object."""
    return make_decoded()
