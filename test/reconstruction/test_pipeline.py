"""Sampling: any size, determinism, faithful kept regions, the knob's ends."""
from __future__ import annotations

import numpy as np
import pytest

from semcomm_ros.reconstruction.pipeline import EmbeddedPipeline, keep_map


def run(pipe, d, **kw):
    keep = keep_map(d.weight_map, d.level, 0.45, 0.6)
    return pipe(d.image, d.weight_map, d.semantic_map, keep, **kw)


@pytest.mark.parametrize("size", [(45, 70), (8, 8), (33, 129)])
def test_any_size(tiny_model, make_frame, size):
    d = make_frame(*size)
    out = run(EmbeddedPipeline(tiny_model), d)
    assert out.shape == d.image.shape and out.dtype == np.uint8


def test_seeded_determinism(tiny_model, decoded):
    pipe = EmbeddedPipeline(tiny_model)
    a = run(pipe, decoded, steps=3, eta=1.0, seed=5)
    b = run(pipe, decoded, steps=3, eta=1.0, seed=5)
    c = run(pipe, decoded, steps=3, eta=1.0, seed=6)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).max() > 0


def test_kept_region_is_exactly_the_composite(tiny_model, decoded):
    out = run(EmbeddedPipeline(tiny_model), decoded, steps=2)
    np.testing.assert_array_equal(out[5:20, 10:30], decoded.image[5:20, 10:30])
    assert np.abs(out.astype(int) - decoded.image)[30:, 40:].max() > 0  # background changed


def test_keep_map_needs_object_level():
    w = np.array([[0.1, 0.5, 0.9]], np.float32)
    assert keep_map(w, 1, 0.45, 0.6).max() == 0
    k = keep_map(w, 2, 0.45, 0.6)
    assert k[0, 0] == 0 and 0 < k[0, 1] < 1 and k[0, 2] == 1
