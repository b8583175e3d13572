"""The libx264 video coder: budget, decoding, recovery after loss and late join."""
import copy

import cv2
import numpy as np
import pytest

from semcomm_ros.codec import BitstreamError, CodecConfig, CompositionDecoder, SemanticEncoder
from semcomm_ros.codec.frame import LEVEL_FULL
from semcomm_ros.codec.video import check_annexb, even_pad, prefilter


def _cfg(**texture):
    cfg = CodecConfig()
    cfg.texture.coder = "video"
    cfg.texture.video_gop = 5
    for key, value in texture.items():
        setattr(cfg.texture, key, value)
    return cfg


@pytest.fixture(scope="module")
def clip(vtest_frames, box_frames):
    """Sixteen frames: eight of vtest then the same again (a long enough stream)."""
    return vtest_frames + vtest_frames


def _encode(scripted, frames, budget, **texture):
    enc = SemanticEncoder(_cfg(**texture), detector=scripted)
    return [enc.encode(f, byte_budget=budget, sequence=i) for i, f in enumerate(frames)]


def test_stream_fits_budget_and_decodes(scripted, clip):
    coded = _encode(scripted, clip, 4000, video_steering="none")
    assert all(f.bytes_used <= 4000 for f in coded)
    assert all(f.background_codec == "h264" and f.level == LEVEL_FULL for f in coded[1:])
    dec = CompositionDecoder(_cfg())
    outs = [dec.decode(f) for f in coded]
    assert all(o.image.shape == (576, 768, 3) for o in outs)
    assert cv2.PSNR(clip[-1], outs[-1].image) > 26
    assert not outs[-1].concealed


@pytest.mark.parametrize("steering", ["prefilter", "roi"])
def test_steering_moves_quality_to_key_objects(scripted, clip, steering):
    results = {}
    for mode in ("none", steering):
        dec = CompositionDecoder(_cfg())
        coded = _encode(scripted, clip, 2500, video_steering=mode)
        results[mode] = [dec.decode(f).image for f in coded][-1]
    x, y, w, h = coded[-1].objects[0].box
    obj = (slice(y, y + h), slice(x, x + w))
    gain = cv2.PSNR(clip[-1][obj], results[steering][obj]) - cv2.PSNR(clip[-1][obj],
                                                                        results["none"][obj])
    assert gain > (1.0 if steering == "roi" else -0.5)
    assert cv2.PSNR(clip[-1], results[steering]) < cv2.PSNR(clip[-1], results["none"])


def test_budget_drop_reopens_and_stays_within(scripted, clip):
    enc = SemanticEncoder(_cfg(), detector=scripted)
    dec = CompositionDecoder(_cfg())
    for i, image in enumerate(clip):
        budget = 6000 if i < 8 else 1200
        frame = enc.encode(image, byte_budget=budget, sequence=i)
        assert frame.bytes_used <= budget
        dec.decode(frame)


def test_loss_heals_within_two_refresh_periods(scripted, clip):
    coded = _encode(scripted, clip, 4000)
    dec = CompositionDecoder(_cfg())
    flags = {}
    for f in coded:
        if f.sequence in (3, 4):  # lost on the link
            continue
        flags[f.sequence] = dec.decode(f).concealed
    assert flags[5]  # damage is reported
    assert flags[8] and not flags[9]  # clean once the wave that starts at 5 has swept


def test_late_joining_decoder_recovers(scripted, clip, vtest_frames):
    coded = _encode(scripted, clip + vtest_frames, 4000)  # 24 frames, headers every 10
    dec = CompositionDecoder(_cfg())
    outs = [dec.decode(f) for f in coded[4:]]
    assert not outs[-1].concealed
    always = CompositionDecoder(_cfg())
    reference = [always.decode(f) for f in coded][-1]
    assert cv2.PSNR(reference.image, outs[-1].image) > 40  # same picture as a decoder from 0


def test_odd_sizes_are_padded_and_cropped(scripted):
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (101, 147, 3), dtype=np.uint8), (0, 0), 3)
    assert even_pad(image).shape == (102, 148, 3)
    enc = SemanticEncoder(_cfg(), detector=scripted)
    out = CompositionDecoder(_cfg()).decode(enc.encode(image, byte_budget=5000))
    assert out.image.shape == (101, 147, 3)


def test_bad_packets_raise(scripted, clip):
    coded = _encode(scripted, clip[:3], 4000)
    for data in (b"\x00\x00\x00\x01\xff\x00", b"garbage", b"\x00\x00\x01"):
        with pytest.raises(BitstreamError):
            check_annexb(data)
    broken = copy.deepcopy(coded[0])
    broken.background_width = 2000
    with pytest.raises(BitstreamError):
        CompositionDecoder(_cfg()).decode(broken)


def test_prefilter_blurs_only_low_weight_regions():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    weights = np.full((64, 64), 0.1, np.float32)
    weights[:, 32:] = 1.0
    out = prefilter(image, weights, bits_per_pixel=0.05, floor=0.1, key=0.6)
    assert np.array_equal(out[:, 40:], image[:, 40:])
    assert out[:, :24].std() < 0.5 * image[:, :24].std()
    assert np.array_equal(prefilter(image, weights, 2.0, 0.1, 0.6), image)  # high rate: as is


def test_frame_without_packet_keeps_the_last_picture(scripted, clip):
    coded = _encode(scripted, clip[:3], 4000)
    dec = CompositionDecoder(_cfg())
    first = dec.decode(coded[0])
    skipped = copy.deepcopy(coded[1])
    skipped.background, skipped.background_codec = b"", ""
    skipped.background_width = skipped.background_height = 0
    out = dec.decode(skipped)
    assert out.concealed
    assert np.array_equal(out.image, first.image)  # not the gist: the last picture


def test_low_rate_codes_a_smaller_picture_without_x264_banner(scripted, vtest_frames):
    from semcomm_ros.codec.video import coded_scale

    assert coded_scale(0.1, 1.0) == 1.0 and coded_scale(0.002, 1.0) == 0.25
    assert coded_scale(0.011, 0.5) == 0.5  # hysteresis: no flapping near a threshold
    coded = _encode(scripted, vtest_frames, 300)  # format 3: ~210 bytes left for the video
    sent = [f for f in coded if f.background]
    assert sent and all(f.background_width == 192 for f in sent)  # quarter of 768
    assert all(b"x264" not in f.background for f in coded)  # the ~600-byte banner SEI is gone
    assert all(f.bytes_used <= 300 for f in coded)
    outs = [CompositionDecoder(_cfg()).decode(f) for f in coded[:1]]
    assert outs[0].image.shape == (576, 768, 3)


def test_reported_loss_restarts_the_stream_with_an_idr(scripted, clip):
    """Feedback: a lost packet is healed by an IDR one round trip later, not by the next wave."""
    enc = SemanticEncoder(_cfg(video_gop=30), detector=scripted)
    dec = CompositionDecoder(_cfg(video_gop=30))
    concealed = {}
    for i, image in enumerate(clip):
        if i >= 2:
            enc.feedback(i - 2, i - 2 != 4)  # the report of frame i - 2 arrives now
        frame = enc.encode(image, byte_budget=4000, sequence=i)
        assert frame.bytes_used <= 4000
        types = check_annexb(frame.background)
        assert (5 in types) == (i in (0, 6)), (i, types)  # IDR only at the start and at 6
        if i == 4:
            continue  # lost on the link
        concealed[i] = dec.decode(frame).concealed
    assert concealed[5]  # built on the lost frame: shown, but reported as damaged
    assert not any(concealed[i] for i in range(6, len(clip)))  # clean from the IDR on


def test_reports_of_an_earlier_stream_are_ignored(scripted, clip):
    enc = SemanticEncoder(_cfg(video_gop=30), detector=scripted)
    for i, image in enumerate(clip[:4]):
        enc.encode(image, byte_budget=4000, sequence=i)
    enc.coder.reset()  # a new stream from frame 4 on
    frame = enc.encode(clip[4], byte_budget=4000, sequence=4)
    enc.feedback(1, False)  # a packet of the old stream: nothing to heal
    frame = enc.encode(clip[5], byte_budget=4000, sequence=5)
    assert 5 not in check_annexb(frame.background)
