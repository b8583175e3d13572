"""The wire format: round trip, sizes, and rejection of malformed frames."""
import numpy as np
import pytest

from semcomm_ros.codec import CodecConfig, SemanticEncoder
from semcomm_ros.codec.bitstream import pack, unpack, validate_frame
from semcomm_ros.codec.config import LimitsConfig
from semcomm_ros.codec.frame import (
    MODE_PART,
    MODE_SKIP,
    MODE_STILL,
    MODE_VIDEO,
    BitstreamError,
    CodedFrame,
    CodedObject,
)


@pytest.fixture
def coded(scripted, vtest_frames):
    enc = SemanticEncoder(CodecConfig(), detector=scripted)
    return enc.encode(vtest_frames[0], byte_budget=8000, sequence=7)


def _same(a: CodedFrame, b: CodedFrame) -> None:
    for name in ("sequence", "source_width", "source_height", "source_encoding", "level",
                 "byte_budget", "gist_codec", "gist", "background_codec", "background",
                 "background_width", "background_quality", "bytes_used", "texture_mode",
                 "ref_sequence", "video_q", "prime_crc", "texture_parts"):
        assert getattr(a, name) == getattr(b, name), name
    assert np.array_equal(a.weight_map, b.weight_map)
    assert a.objects == b.objects
    assert abs(a.encode_time_ms - b.encode_time_ms) < 1e-3


def test_round_trip_and_bytes_used_is_the_wire_size(coded):
    data = pack(coded)
    assert coded.bytes_used == len(data)
    _same(coded, unpack(data))


def test_minimal_frame_round_trips():
    frame = CodedFrame(sequence=0, source_width=16, source_height=16)
    frame.bytes_used = len(pack(frame))
    assert frame.bytes_used <= 40
    _same(frame, unpack(pack(frame)))


def test_wrong_version_magic_crc_and_truncation(coded):
    data = bytearray(pack(coded))
    for broken in (bytes([data[0] ^ 1]) + data[1:], data[:3] + bytes([99]) + data[4:],
                   data[:-1], data[:20], data[:-5] + bytes([data[-5] ^ 0x40]) + data[-4:],
                   data + b"\0"):
        with pytest.raises(BitstreamError):
            unpack(bytes(broken))
    coded.format_version = 1
    with pytest.raises(BitstreamError, match="version"):
        pack(coded)


def test_limits_are_enforced_before_allocation(coded):
    data = pack(coded)
    with pytest.raises(BitstreamError):
        unpack(data, LimitsConfig(max_frame_bytes=len(data) - 1))
    with pytest.raises(BitstreamError):
        unpack(data, LimitsConfig(max_blob_bytes=64))
    with pytest.raises(BitstreamError):
        unpack(data, LimitsConfig(max_objects=1))


@pytest.mark.parametrize("mutate", [
    lambda f: setattr(f, "source_width", 0),
    lambda f: setattr(f, "level", 7),
    lambda f: setattr(f, "background_codec", "gif"),
    lambda f: setattr(f, "weight_map", np.zeros((3, 3), np.float32)),
    lambda f: setattr(f.objects[0], "box", (700, 0, 100, 10)),
    lambda f: setattr(f.objects[0], "confidence", float("nan")),
    lambda f: setattr(f.objects[0], "mask_width", 0),
    lambda f: setattr(f.objects[0], "label", "x" * 100),
    lambda f: f.objects.append("not an object"),
])
def test_validate_rejects_bad_fields(coded, mutate):
    mutate(coded)
    with pytest.raises(BitstreamError):
        validate_frame(coded, LimitsConfig())


def test_object_fields_survive_exactly():
    frame = CodedFrame(sequence=3, source_width=100, source_height=80)
    frame.objects.append(CodedObject(5, "dog", 200 / 255, 51 / 255, (1, 2, 30, 40)))
    assert unpack(pack(frame)).objects == frame.objects


def test_reference_fields_round_trip():
    frame = CodedFrame(sequence=3, source_width=64, source_height=48, texture_mode=MODE_SKIP,
                       ref_sequence=1)
    frame.bytes_used = len(pack(frame))
    _same(frame, unpack(pack(frame)))
    frame = CodedFrame(sequence=2, source_width=64, source_height=48, texture_mode=MODE_VIDEO,
                       ref_sequence=0xFFFFFFFF, video_q=61, prime_crc=0xDEADBEEF,
                       background_codec="h264", background_width=64, background_height=48,
                       background=b"\0\0\1\x41\x9a")
    frame.bytes_used = len(pack(frame))
    back = unpack(pack(frame))
    _same(frame, back)
    assert back.ref_sequence == 0xFFFFFFFF  # three frames back across the wrap


@pytest.mark.parametrize("fields", [
    {"texture_mode": 9},
    {"texture_mode": MODE_SKIP, "ref_sequence": 10},            # reference after the frame
    {"texture_mode": MODE_SKIP, "ref_sequence": 5},             # distance 0
    {"texture_mode": MODE_SKIP, "ref_sequence": 4, "background_codec": "webp",
     "background_width": 8, "background_height": 8, "background": b"x"},
    {"texture_mode": MODE_STILL},                               # still without a picture
    {"texture_mode": MODE_STILL, "ref_sequence": 4, "background_codec": "webp",
     "background_width": 8, "background_height": 8, "background": b"x"},
    {"texture_mode": MODE_VIDEO, "ref_sequence": 4, "video_q": 205,
     "background_codec": "h264", "background_width": 16, "background_height": 16,
     "background": b"x"},
    {"video_q": 3},                                             # video field, no video
])
def test_reference_fields_are_checked(fields):
    frame = CodedFrame(sequence=5, source_width=64, source_height=48, **fields)
    with pytest.raises(BitstreamError):
        validate_frame(frame, LimitsConfig())


def test_reference_distance_is_bounded_by_limits():
    frame = CodedFrame(sequence=400, source_width=64, source_height=48,
                       texture_mode=MODE_SKIP, ref_sequence=100)
    with pytest.raises(BitstreamError):
        pack(frame)
    data = pack(frame, LimitsConfig(max_ref_distance=300))
    with pytest.raises(BitstreamError):
        unpack(data)
    assert unpack(data, LimitsConfig(max_ref_distance=300)).ref_sequence == 100


def test_part_fields_round_trip_and_are_checked():
    webp = dict(background_codec="webp", background_width=8, background_height=8,
                background=b"RIFF", background_quality=20)
    frame = CodedFrame(sequence=9, source_width=64, source_height=48, texture_mode=MODE_PART,
                       texture_parts=3, **webp)
    frame.bytes_used = len(pack(frame))
    _same(frame, unpack(pack(frame)))
    assert unpack(pack(frame)).texture_parts == 3
    for bad in ({"texture_mode": MODE_PART, "texture_parts": 0, **webp},
                {"texture_mode": MODE_PART, "texture_parts": 17, **webp},
                {"texture_mode": MODE_SKIP, "ref_sequence": 8, "texture_parts": 1},
                {"texture_mode": MODE_PART, "texture_parts": 1}):
        with pytest.raises(BitstreamError):
            validate_frame(CodedFrame(sequence=9, source_width=64, source_height=48, **bad),
                           LimitsConfig())


def test_limits_on_pixels_work_and_class_ids_are_enforced():
    from semcomm_ros.codec.bitstream import validate_frame, work_pixels
    from semcomm_ros.codec.config import LimitsConfig
    from semcomm_ros.codec.frame import BitstreamError, CodedFrame, CodedObject, LimitExceeded

    def frame(w, h, objects=()):
        return CodedFrame(sequence=1, source_width=w, source_height=h, objects=list(objects))

    limits = LimitsConfig()
    validate_frame(frame(3840, 2160), limits)  # a 4K camera fits the default
    with pytest.raises(LimitExceeded, match="max_pixels"):
        validate_frame(frame(8192, 8192), limits)  # each side within max_dimension
    full = [CodedObject(0, "person", 0.9, 1.0, (0, 0, 3840, 2160)) for _ in range(4)]
    assert work_pixels(frame(3840, 2160, full)) == 5 * 3840 * 2160
    with pytest.raises(LimitExceeded, match="work"):
        validate_frame(frame(3840, 2160, full), limits)  # 4 full-frame objects: too much work
    odd = CodedObject(65535, "x", 0.9, 1.0, (0, 0, 8, 8))
    with pytest.raises(BitstreamError, match="class_id"):
        validate_frame(frame(64, 48, [odd]), limits)  # class_id + 1 must fit uint16
