"""The network wrapper: latent mapping, shapes, checkpoint round trip and errors."""
from __future__ import annotations

import json

import pytest
import torch

from semcomm_ros.reconstruction.models import CheckpointError, EmbeddedDecoder


def test_latent_mapping_is_lossless(tiny_model):
    r = torch.rand(2, 3, 16, 24) - 0.5
    z = tiny_model.to_latent(r)
    assert z.shape == (2, 48, 4, 6)
    torch.testing.assert_close(tiny_model.from_latent(z), r)


def test_forward_shape(tiny_model):
    comp = torch.rand(1, 3, 32, 40) * 2 - 1
    maps = torch.rand(1, 3, 32, 40)
    cond = tiny_model.condition(comp, maps)
    z = torch.randn(1, 48, 8, 10)
    assert tiny_model(z, 999, cond).shape == z.shape


@pytest.mark.parametrize("half", [False, True])
def test_checkpoint_round_trip(tiny_model, tmp_path, half):
    tiny_model.spec.training = {"steps": 3}
    tiny_model.save(tmp_path / "ck", half=half)
    loaded = EmbeddedDecoder.load(tmp_path / "ck")
    assert loaded.spec == tiny_model.spec
    for (name, a), b in zip(tiny_model.state_dict().items(), loaded.state_dict().values(),
                            strict=True):
        tol = 1e-3 if half else 0.0
        torch.testing.assert_close(b, a, atol=tol, rtol=tol, msg=name)


def test_missing_checkpoint_raises(tmp_path):
    with pytest.raises(CheckpointError, match="decoder.json missing"):
        EmbeddedDecoder.load(tmp_path / "nothing")


def test_corrupt_weights_raise(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "ck")
    weights = next((tmp_path / "ck" / "unet").glob("*.safetensors"))
    weights.write_bytes(b"garbage" * 100)
    with pytest.raises(CheckpointError, match="cannot load weights"):
        EmbeddedDecoder.load(tmp_path / "ck")


def test_wrong_format_raises(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "ck")
    (tmp_path / "ck" / "decoder.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CheckpointError, match="not a"):
        EmbeddedDecoder.load(tmp_path / "ck")
