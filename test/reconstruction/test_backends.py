"""Backend selection, input checking and the loud fall-back to composition."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from semcomm_ros.config import ConfigError, from_flat_params, to_flat_params
from semcomm_ros.reconstruction import ReconstructionConfig, make_reconstructor
from semcomm_ros.reconstruction.backends import EmbeddedReconstructor

LOGGER = "semcomm_ros.reconstruction"


def test_none_returns_the_composite(decoded):
    rec = make_reconstructor(ReconstructionConfig(backend="none"))
    assert rec.name == "none"
    np.testing.assert_array_equal(rec.reconstruct(decoded), decoded.image)


def test_embedded_loads_a_checkpoint(tiny_model, tmp_path, decoded, caplog):
    tiny_model.save(tmp_path / "ck")
    cfg = ReconstructionConfig(backend="embedded", checkpoint=str(tmp_path / "ck"), device="cpu")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rec = make_reconstructor(cfg)
    assert rec.name == "embedded" and not caplog.records
    out = rec.reconstruct(decoded)
    assert out.shape == decoded.image.shape
    np.testing.assert_array_equal(out, rec.reconstruct(decoded))  # seeded: same frame, same out


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_bad_checkpoint_falls_back_loudly(tiny_model, tmp_path, decoded, caplog, damage):
    path = tmp_path / "ck"
    if damage == "corrupt":
        tiny_model.save(path)
        next((path / "unet").glob("*.safetensors")).write_bytes(b"\x00" * 64)
    cfg = ReconstructionConfig(backend="embedded", checkpoint=str(path))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rec = make_reconstructor(cfg)
    assert rec.name == "none"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "FALLING BACK TO COMPOSITION" in warnings[0].getMessage()
    assert str(path) in rec.fallback_reason
    np.testing.assert_array_equal(rec.reconstruct(decoded), decoded.image)


def test_sd_without_weights_falls_back(caplog, tmp_path):
    cfg = ReconstructionConfig(backend="sd")
    cfg.sd.model = str(tmp_path / "no-such-model")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rec = make_reconstructor(cfg)
    assert rec.name == "none"
    assert "FALLING BACK" in caplog.text


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="backend"):
        make_reconstructor(ReconstructionConfig(backend="magic"))


def test_config_round_trips_through_ros_parameters():
    cfg = ReconstructionConfig(backend="sd", realism=0.5)
    cfg.sd.controlnet = True
    flat = to_flat_params(cfg)
    assert flat["sd.controlnet"] is True and flat["realism"] == 0.5
    assert from_flat_params(ReconstructionConfig, flat) == cfg
    with pytest.raises(ConfigError):
        from_flat_params(ReconstructionConfig, {**flat, "realism": 3.0})


@pytest.mark.parametrize("bad", [
    {"image": np.zeros((4, 4), np.uint8)},
    {"image": np.zeros((4, 4, 3), np.float32)},
    {"weight_map": np.zeros((2, 2, 2), np.float32)},
    {"weight_map": np.full((45, 70), np.nan, np.float32)},
])
def test_bad_input_raises(tiny_model, make_frame, bad):
    rec = EmbeddedReconstructor(ReconstructionConfig(device="cpu"), model=tiny_model)
    d = make_frame()
    for k, v in bad.items():
        setattr(d, k, v)
    with pytest.raises(ValueError):
        rec.reconstruct(d)


def test_maps_of_another_size_are_resized(tiny_model, make_frame):
    rec = EmbeddedReconstructor(ReconstructionConfig(device="cpu"), model=tiny_model)
    d = make_frame(48, 64)
    d.weight_map = np.full((3, 4), 0.9, np.float32)   # coarse cells, as sent
    d.semantic_map = np.ones((3, 4), np.uint16)
    np.testing.assert_array_equal(rec.reconstruct(d), d.image)  # all kept


def test_shipped_checkpoint_loads_offline_by_default(make_frame, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rec = make_reconstructor(ReconstructionConfig(device="cpu"))
    assert rec.name == "embedded", caplog.text
    assert rec.pipeline.model.spec.training.get("steps", 0) > 0
    d = make_frame(40, 56, level=1)
    out = rec.reconstruct(d)
    assert out.shape == d.image.shape and out.dtype == np.uint8
