"""CompositionDecoder: composition, quality ordering, concealment, malformed input."""
import copy

import cv2
import numpy as np
import pytest

from semcomm_ros.codec import (
    BitstreamError,
    CodecConfig,
    CompositionDecoder,
    SemanticEncoder,
)
from semcomm_ros.codec.bitstream import pack, unpack


def _region() -> CodecConfig:
    """These tests describe the region coder (the auto coder has test_auto.py)."""
    cfg = CodecConfig()
    cfg.texture.coder = "region"
    return cfg


def _psnr(a, b, region=None):
    if region is not None:
        x, y, w, h = region
        a, b = a[y:y + h, x:x + w], b[y:y + h, x:x + w]
    return cv2.PSNR(a, b)


def test_decoded_frame_fields(scripted, vtest_frames):
    enc, dec = SemanticEncoder(_region(), detector=scripted), CompositionDecoder()
    frame = enc.encode(vtest_frames[0], byte_budget=8000, sequence=4)
    out = dec.decode(unpack(pack(frame)))
    assert out.image.shape == (576, 768, 3) and out.image.dtype == np.uint8
    assert out.weight_map.shape == (576, 768) and out.weight_map.dtype == np.float32
    assert out.semantic_map.dtype == np.uint16
    x, y, w, h = frame.objects[0].box
    assert out.semantic_map[y + h // 2, x + w // 2] == 1  # person: class 0 + 1
    assert out.semantic_map[5, 760] == 0
    assert out.sequence == 4 and out.level == frame.level and not out.concealed
    assert abs(out.weight_map[y + h // 2, x + w // 2] - frame.objects[0].weight) < 0.15


def test_more_bytes_more_quality_and_objects_beat_background(scripted, vtest_frames):
    image = vtest_frames[0]
    results = {}
    for budget in (2500, 20000):
        enc, dec = SemanticEncoder(_region(), detector=scripted), CompositionDecoder()
        frame = enc.encode(image, byte_budget=budget)
        results[budget] = (frame, dec.decode(frame).image)
    low_frame, low = results[2500]
    assert _psnr(image, results[20000][1]) > _psnr(image, low) + 1.0
    assert _psnr(image, low, low_frame.objects[0].box) > _psnr(image, low) + 2.0


def test_semantic_only_frame_decodes_from_the_gist(scripted, vtest_frames):
    enc, dec = SemanticEncoder(_region(), detector=scripted), CompositionDecoder()
    frame = enc.encode(vtest_frames[0], byte_budget=400)
    assert not frame.background and frame.gist
    out = dec.decode(frame)
    assert _psnr(vtest_frames[0], out.image) > 14  # a blurry but right picture, not grey
    assert set(np.unique(out.semantic_map)) == {0, 1, 14}  # background, person, bench


def test_missing_object_texture_is_concealed_from_cache(scripted, vtest_frames):
    enc, dec = SemanticEncoder(_region(), detector=scripted), CompositionDecoder()
    first = enc.encode(vtest_frames[0], byte_budget=10000)
    dec.decode(first)
    second = enc.encode(vtest_frames[1], byte_budget=10000)
    for obj in second.objects:
        obj.texture, obj.texture_codec = b"", ""
        obj.texture_quality = obj.texture_width = obj.texture_height = 0
    out = dec.decode(second)
    assert out.concealed
    box = first.objects[0].box
    fresh = CompositionDecoder().decode(second)  # no cache: shows only the background
    assert _psnr(vtest_frames[1], out.image, box) > _psnr(vtest_frames[1], fresh.image, box)


def test_malformed_frame_raises_and_leaves_state_unchanged(scripted, vtest_frames):
    enc, dec = SemanticEncoder(_region(), detector=scripted), CompositionDecoder()
    good = dec.decode(enc.encode(vtest_frames[0], byte_budget=8000, sequence=1))
    bad = enc.encode(vtest_frames[1], byte_budget=8000, sequence=2)
    broken = copy.deepcopy(bad)
    broken.objects[0].texture = broken.objects[0].texture[:40]
    with pytest.raises(BitstreamError):
        dec.decode(broken)
    broken = copy.deepcopy(bad)
    broken.background = b"RIFF" + bytes(60)
    broken.background_codec = "webp"
    broken.background_width = broken.background_height = 16
    with pytest.raises(BitstreamError):
        dec.decode(broken)
    assert dec.last is good
    concealed = dec.conceal(sequence=2)
    assert concealed.concealed and np.array_equal(concealed.image, good.image)


def test_late_joining_decoder_recovers(scripted, vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    frames = [enc.encode(vtest_frames[0], byte_budget=5000, sequence=i) for i in range(12)]
    late = CompositionDecoder()
    outs = [late.decode(f) for f in frames[3:]]
    assert any(f.background for f in frames[3:])  # a refresh arrives within max_age frames
    assert _psnr(vtest_frames[0], outs[-1].image) > 24


@pytest.mark.parametrize("coder", ["region", "auto"])
def test_coarse_picture_is_what_the_composite_was_scaled_from(scripted, vtest_frames, coder):
    """The reconstruction's prior hook: DecodedFrame.coarse, the coded-size picture."""
    from semcomm_ros.codec.region import resize_to
    cfg = CodecConfig()
    cfg.texture.coder = coder
    enc, dec = SemanticEncoder(cfg, detector=scripted), CompositionDecoder(cfg)
    for i in range(2):  # the region coder's second frame reuses the held background
        out = dec.decode(unpack(pack(enc.encode(vtest_frames[i], byte_budget=1200,
                                                sequence=i))))
        assert out.coarse is not None
        if i == 0:  # a still / a new background: sent smaller than the source
            assert out.coarse.shape[1] < 768
        up = resize_to(out.coarse, 768, 576)
        outside = np.ones((576, 768), bool)
        for obj in out.objects:
            x, y, w, h = obj.box
            outside[max(0, y - 8):y + h + 8, max(0, x - 8):x + w + 8] = False
        assert outside.mean() > 0.3
        assert (out.image[outside] == up[outside]).all()
