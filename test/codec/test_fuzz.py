"""Mutation fuzzing of every parser: only BitstreamError may come out, quickly, in bounded memory.

``unpack`` gets truncated, bit-flipped, spliced, length-inflated and
wrong-version byte strings, both as they are (the CRC catches most) and with
the CRC recomputed (so the field parsers themselves are exercised).
``CompositionDecoder.decode`` gets CodedFrames with mutated fields, and must
leave its state unchanged when it rejects one.
"""
from __future__ import annotations

import copy
import resource
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcomm_ros.codec import (
    BitstreamError,
    CodecConfig,
    CodedObject,
    CompositionDecoder,
    SemanticEncoder,
)
from semcomm_ros.codec.bitstream import pack, unpack
from semcomm_ros.codec.config import LimitsConfig
from semcomm_ros.codec.frame import (
    FORMAT_VERSION,
    MODE_PART,
    MODE_SKIP,
    MODE_STILL,
    MODE_VIDEO,
)
from semcomm_ros.codec.masks import rle_decode

LIMITS = LimitsConfig(max_dimension=2048, max_frame_bytes=1_000_000, max_blob_bytes=500_000)
SLOW_SECONDS = 2.0
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def frames(vtest_frames):
    """A few real coded frames: with background, objects, masks, gist; and semantic-only."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import PEOPLE, ScriptedDetector

    cfg = CodecConfig()
    cfg.texture.coder = "region"
    enc = SemanticEncoder(cfg, detector=ScriptedDetector(PEOPLE))
    out = [enc.encode(vtest_frames[0], byte_budget=6000, sequence=1),
           enc.encode(vtest_frames[1], byte_budget=400, sequence=2)]
    cfg = CodecConfig()
    cfg.texture.coder = "video"
    video = SemanticEncoder(cfg, detector=ScriptedDetector(PEOPLE))
    out += [video.encode(image, byte_budget=3000, sequence=i)
            for i, image in enumerate(vtest_frames[:3])]
    return out + auto_frames(vtest_frames)


def auto_frames(vtest_frames):
    """Auto-coder frames 10..13 (still, then video against it), a skip 14 and a part 15."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import PEOPLE, ScriptedDetector

    enc = SemanticEncoder(CodecConfig(), detector=ScriptedDetector(PEOPLE))
    out = [enc.encode(image, byte_budget=budget, sequence=10 + i)
           for i, (image, budget) in enumerate(zip(vtest_frames[:4], (5000, 2500, 1500, 900)))]
    assert {f.texture_mode for f in out} >= {MODE_STILL, MODE_VIDEO}
    skip = copy.deepcopy(out[-1])
    skip.sequence, skip.texture_mode, skip.ref_sequence = 14, MODE_SKIP, 12
    skip.background, skip.background_codec = b"", ""
    skip.background_width = skip.background_height = skip.video_q = skip.prime_crc = 0
    part = copy.deepcopy(out[0])  # the first half of the still, as part 1 of a split still
    part.sequence, part.texture_mode, part.texture_parts = 15, MODE_PART, 1
    part.background = part.background[:len(part.background) // 2]
    return out + [skip, part]


AUTO = slice(5, 11)  # where the auto frames are in ``frames``


@pytest.fixture(scope="module")
def holding(frames):
    """A decoder that decoded the auto frames (so mutated ones reach the deep decoding)."""
    dec = CompositionDecoder(CodecConfig(limits=LIMITS))
    for frame in frames[AUTO]:
        dec.decode(frame)
    return dec


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _try_unpack(data: bytes) -> None:
    start = time.perf_counter()
    try:
        frame = unpack(data, LIMITS)
    except BitstreamError:
        pass
    else:
        assert frame.bytes_used == len(data)
    assert time.perf_counter() - start < SLOW_SECONDS


@FUZZ
@given(data=st.data())
def test_unpack_mutations(frames, data):
    packed = pack(frames[data.draw(st.integers(0, len(frames) - 1))])
    body = bytearray(packed[:-4])
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "inflate", "version"]))
    if kind == "truncate":
        body = body[:data.draw(st.integers(0, len(body) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            pos = data.draw(st.integers(0, len(body) - 1))
            body[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "splice":
        pos = data.draw(st.integers(0, len(body)))
        body[pos:pos + data.draw(st.integers(0, 16))] = data.draw(st.binary(max_size=16))
    elif kind == "inflate":  # a huge varint where a length or size was
        pos = data.draw(st.integers(4, len(body) - 1))
        body[pos:pos + 1] = b"\xff\xff\xff\xff\x0f"
    else:
        body[3] = data.draw(st.integers(0, 255).filter(lambda v: v != FORMAT_VERSION))
    _try_unpack(bytes(body) + packed[-4:])  # CRC as it was
    _try_unpack(_with_crc(bytes(body)))      # CRC recomputed: the parsers must hold


@FUZZ
@given(st.binary(max_size=300))
def test_unpack_random_bytes(blob):
    _try_unpack(blob)
    _try_unpack(_with_crc(b"SCF" + bytes([FORMAT_VERSION]) + blob))


@FUZZ
@given(st.binary(max_size=64), st.integers(-5, 300), st.integers(-5, 300))
def test_rle_decode_random(blob, width, height):
    try:
        cells = rle_decode(blob, width, height)
    except BitstreamError:
        return
    assert cells.shape == (height, width)


ODD_INTS = st.one_of(st.integers(-3, 3), st.integers(0, 5000), st.sampled_from(
    [2**16, 2**31, 2**32, 2**63, -(2**31)]))
ODD_BYTES = st.one_of(st.binary(max_size=64), st.just(b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(40)),
                      st.just(b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff" + bytes(20)))
FRAME_FIELDS = {
    "source_width": ODD_INTS, "source_height": ODD_INTS, "level": ODD_INTS,
    "sequence": ODD_INTS, "format_version": ODD_INTS, "byte_budget": ODD_INTS,
    "gist": ODD_BYTES, "gist_width": ODD_INTS, "gist_codec": st.sampled_from(
        ["", "webp", "jpeg", "h264", "bmp"]),
    "background": ODD_BYTES, "background_width": ODD_INTS, "background_height": ODD_INTS,
    "background_codec": st.sampled_from(["", "webp", "jpeg", "h264", "bmp"]),
    "background_quality": ODD_INTS,
    "weight_map": st.sampled_from([np.zeros((0, 0), np.uint8), np.zeros((5,), np.uint8),
                                   np.zeros((4, 4), np.float32), np.zeros((3000, 2), np.uint8),
                                   np.full((600, 800), 255, np.uint8)]),
    "objects": st.sampled_from([[], None, ["x"]]),
    "texture_mode": ODD_INTS, "ref_sequence": ODD_INTS, "video_q": ODD_INTS,
    "prime_crc": ODD_INTS, "texture_parts": ODD_INTS,
}
OBJECT_FIELDS = {
    "class_id": ODD_INTS, "label": st.text(max_size=80), "box": st.tuples(
        ODD_INTS, ODD_INTS, ODD_INTS, ODD_INTS), "mask": ODD_BYTES, "mask_width": ODD_INTS,
    "mask_height": ODD_INTS, "texture": ODD_BYTES, "texture_width": ODD_INTS,
    "texture_height": ODD_INTS, "texture_codec": st.sampled_from(["", "webp", "jpeg", "png"]),
    "texture_quality": ODD_INTS,
    "confidence": st.floats(allow_nan=True, allow_infinity=True),
    "weight": st.floats(-1, 2),
}


@FUZZ
@given(data=st.data())
def test_decode_mutated_frames(frames, holding, data):
    dec = copy.deepcopy(holding)  # holds the auto frames' references
    good = dec.decode(frames[data.draw(st.sampled_from([0, 2]))])
    held = dec.canvases.sequences()
    frame = copy.deepcopy(frames[data.draw(st.integers(0, len(frames) - 1))])
    for _ in range(data.draw(st.integers(1, 3))):
        if frame.objects and all(isinstance(o, CodedObject) for o in frame.objects) \
                and data.draw(st.booleans()):
            obj = frame.objects[data.draw(st.integers(0, len(frame.objects) - 1))]
            name = data.draw(st.sampled_from(sorted(OBJECT_FIELDS)))
            setattr(obj, name, data.draw(OBJECT_FIELDS[name]))
        else:
            name = data.draw(st.sampled_from(sorted(FRAME_FIELDS)))
            setattr(frame, name, data.draw(FRAME_FIELDS[name]))
    start = time.perf_counter()
    try:
        out = dec.decode(frame)
    except BitstreamError:
        assert dec.last is good  # rejected: state unchanged
        assert dec.canvases.sequences() == held
    else:
        assert out.image.shape == (frame.source_height, frame.source_width, 3)
    assert time.perf_counter() - start < SLOW_SECONDS


def test_fuzzing_kept_memory_bounded():
    """Runs last in this module: the process peak stayed far below what a bad length could ask."""
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < 4096
