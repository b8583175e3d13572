"""The pretrained prior: it beats bicubic on real codec output, falls back loudly, keeps objects."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from semcomm_ros.codec.region import resize_to
from semcomm_ros.reconstruction import ReconstructionConfig, make_reconstructor
from semcomm_ros.reconstruction import prior as prior_mod
from semcomm_ros.reconstruction.data import DEFAULT_DATA_DIR
from semcomm_ros.reconstruction.prior import (
    BicubicUpsampler,
    PriorError,
    Upsampler,
    apply_prior,
    coarse_mask,
    make_upsampler,
)


def have_waifu2x() -> bool:
    try:
        prior_mod.find_waifu2x(3)
        return True
    except PriorError:
        return False


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    d = (a.astype(np.float64) - b)[mask]
    return 10 * np.log10(255.0 ** 2 / max(1e-9, float((d ** 2).mean())))


@pytest.mark.skipif(not have_waifu2x(), reason="waifu2x not fetched (tools/fetch_priors.sh)")
@pytest.mark.skipif(not (DEFAULT_DATA_DIR / "left01.jpg").is_file(), reason="no sample data")
def test_waifu2x_beats_bicubic_on_real_codec_output():
    """A training photo (not held out) through the codec at 0.05 bpp: the coarse picture."""
    from semcomm_ros.codec import CodecConfig, CompositionDecoder, SemanticEncoder
    img = cv2.imread(str(DEFAULT_DATA_DIR / "left01.jpg"))[120:360, 160:480]  # 320x240
    cfg = CodecConfig()
    cfg.detector.backend = "opencv"  # the pixels that matter here are the background's
    frame = SemanticEncoder(cfg).encode(img, byte_budget=int(0.05 * 320 * 240 / 8))
    decoded = CompositionDecoder(cfg).decode(frame)
    assert decoded.coarse is not None and decoded.coarse.shape[1] < 320
    mask = coarse_mask(decoded.image, decoded.coarse)
    assert mask.mean() > 0.5
    waifu = apply_prior(decoded.image, decoded.coarse, make_upsampler("waifu2x", threads=1))
    bicubic = apply_prior(decoded.image, decoded.coarse, BicubicUpsampler())
    gain = psnr(waifu, img, mask) - psnr(bicubic, img, mask)
    assert gain > 0.3, gain
    assert psnr(waifu, img, mask) > psnr(decoded.image, img, mask) + 0.3


def test_missing_weights_fall_back_to_bicubic_loudly(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(prior_mod, "prior_dirs", lambda configured="": [tmp_path])
    with caplog.at_level(logging.WARNING, "semcomm_ros.reconstruction.prior"):
        up = make_upsampler("waifu2x")
    assert isinstance(up, BicubicUpsampler)
    assert "FALLING BACK TO BICUBIC" in caplog.text and "fetch_priors" in caplog.text


def test_named_folder_without_weights_is_an_error(tmp_path):
    with pytest.raises(PriorError, match="noise3_scale2.0x_model.onnx not found"):
        make_upsampler("waifu2x", folder=str(tmp_path))
    with pytest.raises(PriorError):
        make_reconstructor(ReconstructionConfig(prior_dir=str(tmp_path)))


def test_prior_replaces_only_the_upscaled_coarse_pixels():
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    comp = resize_to(coarse, 64, 48).copy()
    comp[10:20, 20:40] = 7  # a pasted object
    mask = coarse_mask(comp, coarse)
    assert not mask[10:20, 20:40].any() and mask.mean() > 0.9
    out = apply_prior(comp, coarse, BicubicUpsampler())
    assert (out[10:20, 20:40] == 7).all()
    bic = cv2.resize(coarse, (64, 48), interpolation=cv2.INTER_CUBIC)
    assert (out[mask] == bic[mask]).all()
    assert apply_prior(comp, None, BicubicUpsampler()) is comp
    assert apply_prior(comp, coarse, Upsampler()) is comp  # "none": the codec's own


@pytest.mark.skipif(not have_waifu2x(), reason="waifu2x not fetched (tools/fetch_priors.sh)")
def test_torch_network_matches_the_onnx_graph_and_bfloat16_costs_nothing_visible():
    """The torch port reproduces onnxruntime's run of the shipped graph; bf16 stays close."""
    import onnxruntime as ort
    rng = np.random.default_rng(1)
    small = cv2.GaussianBlur(rng.integers(0, 256, (37, 52, 3), dtype=np.uint8), (5, 5), 1.5)
    path = prior_mod.find_waifu2x(3)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(small[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255
    x = np.pad(x, ((0, 0), (0, 0), (7, 7), (7, 7)), mode="edge")
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0][0, :, :74, :104]
    ref = (np.clip(ref.transpose(1, 2, 0)[..., ::-1], 0, 1) * 255 + 0.5).astype(np.uint8)
    exact = prior_mod.Waifu2xUpsampler(3, precision="float32")(small, 104, 74)
    assert np.abs(exact.astype(int) - ref).max() <= 1
    half = prior_mod.Waifu2xUpsampler(3, precision="bfloat16")(small, 104, 74)
    diff = np.abs(half.astype(int) - ref)
    assert diff.mean() < 1.0 and diff.max() <= 8, (diff.mean(), diff.max())
    # float16 is what CUDA runs (`auto` there); its rounding is checked here on the CPU
    fp16 = prior_mod.Waifu2xUpsampler(3, precision="float16")(small, 104, 74)
    diff = np.abs(fp16.astype(int) - ref)
    assert diff.mean() < 0.5 and diff.max() <= 4, (diff.mean(), diff.max())


@pytest.mark.skipif(not have_waifu2x(), reason="waifu2x not fetched (tools/fetch_priors.sh)")
def test_strips_give_the_same_picture_as_one_pass(monkeypatch):
    rng = np.random.default_rng(2)
    small = rng.integers(0, 256, (45, 30, 3), dtype=np.uint8)
    up = prior_mod.Waifu2xUpsampler(3, precision="float32")
    whole = up(small, 60, 90)
    monkeypatch.setattr(prior_mod, "STRIP_ROWS", 16)  # 45 rows -> strips of 16, 16, 13
    # the same sums in float32 (oneDNN may pick another algorithm per strip shape: 1e-6)
    assert np.abs(up(small, 60, 90).astype(int) - whole).max() <= 1


def test_a_file_that_is_not_upconv7_is_refused(tmp_path):
    bad = tmp_path / "noise3_scale2.0x_model.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not an onnx model" * 10)
    with pytest.raises(PriorError, match="noise3_scale2.0x_model.onnx"):
        make_upsampler("waifu2x", folder=str(tmp_path))


@pytest.mark.skipif(not have_waifu2x(), reason="waifu2x not fetched (tools/fetch_priors.sh)")
def test_a_graph_with_other_hyper_parameters_is_refused(tmp_path):
    """Right-shaped weights are not enough: stride and padding are part of the network."""
    import onnx
    model = onnx.load(str(prior_mod.find_waifu2x(3)))
    up = [n for n in model.graph.node if n.op_type == "ConvTranspose"][0]
    for a in up.attribute:
        if a.name == "strides":
            a.ints[:] = [1, 1]
    onnx.save(model, str(tmp_path / "noise3_scale2.0x_model.onnx"))
    with pytest.raises(PriorError, match="not a waifu2x upconv_7 graph"):
        make_upsampler("waifu2x", folder=str(tmp_path))


def test_prior_precision_is_validated():
    from semcomm_ros.config import ConfigError
    with pytest.raises(ConfigError, match="prior_precision"):
        ReconstructionConfig(prior_precision="int4").validate()
    assert prior_mod.prior_dtype(prior_mod.torch.device("cpu"), "float32") \
        == prior_mod.torch.float32
