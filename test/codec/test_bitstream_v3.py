"""Format 3: grid-coded boxes, standard labels, optional object flags, coded encodings."""
import struct
import zlib

import numpy as np
import pytest

from semcomm_ros.codec.bitstream import (
    ENCODING_CODES,
    STANDARD_LABELS,
    box_grid_exponent,
    pack,
    q_time,
    unpack,
    validate_frame,
)
from semcomm_ros.codec.config import LimitsConfig
from semcomm_ros.codec.frame import BitstreamError, CodedFrame, CodedObject
from semcomm_ros.codec.semantic import box_grid, build_objects, snap_box


def _frame(objects=(), **fields) -> CodedFrame:
    frame = CodedFrame(sequence=41, source_width=770, source_height=578,
                       objects=list(objects), **fields)
    return frame


def _person(box, **fields) -> CodedObject:
    return CodedObject(0, "person", 200 / 255, 153 / 255, box, **fields)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _round_trip(frame: CodedFrame) -> CodedFrame:
    data = pack(frame)
    back = unpack(data)
    assert back.objects == frame.objects
    assert back.source_encoding == frame.source_encoding
    assert back.encode_time_ms == frame.encode_time_ms
    assert np.array_equal(back.weight_map, frame.weight_map)
    assert pack(back) == data  # one frame, one byte string
    return back


@pytest.mark.parametrize("grid_exp", range(8))
def test_grid_boxes_round_trip_exactly(grid_exp):
    g = 1 << grid_exp
    # 770 x 578 is on no grid above 2: boxes at the far edges end at the picture's edge
    boxes = [(0, 0, g, g), (g * 3, g * 2, g * 5, g), (770 - 770 % g if 770 % g else 770 - g,
                                                       578 - 578 % g if 578 % g else 578 - g,
                                                       770 % g or g, 578 % g or g)]
    frame = _frame([_person(b) for b in boxes if b[0] + b[2] <= 770 and b[1] + b[3] <= 578])
    assert box_grid_exponent(frame) >= grid_exp
    data = pack(frame)
    assert data[5] & 7 == box_grid_exponent(frame)
    _round_trip(frame)


def test_off_grid_and_edge_boxes_round_trip():
    boxes = [(1, 3, 5, 7), (763, 571, 7, 7), (0, 0, 770, 578), (512, 256, 258, 322)]
    for box in boxes:
        _round_trip(_frame([_person(box)]))
    _round_trip(_frame([_person(b) for b in boxes]))


def test_coarse_grid_makes_boxes_one_byte_per_coordinate():
    fine = _frame([_person((301, 403, 200, 150))])
    coarse = _frame([_person(snap_box((301, 403, 200, 150), 8, 578, 770))])
    assert coarse.objects[0].box == (296, 400, 208, 160)
    assert len(pack(fine)) - len(pack(coarse)) == 4  # four 2-byte varints become 1 byte each


def test_labels_standard_omitted_and_custom_sent():
    standard = _frame([_person((0, 0, 8, 8)),
                       CodedObject(16, "dog", 128 / 255, 128 / 255, (8, 8, 8, 8))])
    custom = _frame([CodedObject(0, "worker", 128 / 255, 64 / 255, (0, 0, 8, 8)),
                     CodedObject(16, "dog", 128 / 255, 128 / 255, (8, 8, 8, 8))])
    _round_trip(standard)
    _round_trip(custom)
    assert len(pack(custom)) == len(pack(standard)) + len(b"worker") + 1
    # a class beyond the standard table, and the empty label, go as text
    _round_trip(_frame([CodedObject(65534, "", 128 / 255, 64 / 255, (0, 0, 8, 8)),
                        CodedObject(80, "robot", 128 / 255, 64 / 255, (8, 8, 8, 8)),
                        CodedObject(1, "person", 128 / 255, 64 / 255, (16, 16, 8, 8))]))


def test_single_class_frames_carry_no_class_index():
    one = _frame([_person((0, 0, 8, 8)), _person((8, 0, 8, 8))])
    two = _frame([_person((0, 0, 8, 8)), CodedObject(2, "car", 200 / 255, 153 / 255,
                                                     (8, 0, 8, 8))])
    assert len(pack(two)) == len(pack(one)) + 1 + 2  # a class entry, two indexes
    _round_trip(one)
    _round_trip(two)


def test_standard_table_matches_the_coco_detector():
    from semcomm_ros.codec.coco_onnx import COCO_LABELS

    assert tuple(COCO_LABELS) == STANDARD_LABELS


def test_object_flags_only_when_some_object_has_a_mask_or_texture():
    plain = _frame([_person((0, 0, 16, 16)), _person((16, 0, 16, 16))])
    assert not pack(plain)[5] & 0x08
    masked = _frame([_person((0, 0, 16, 16), mask_width=2, mask_height=2, mask=b"\x01\x02\x01"),
                     _person((16, 0, 16, 16))])
    textured = _frame([_person((0, 0, 16, 16)),
                       _person((16, 0, 16, 16), texture_codec="webp", texture_quality=30,
                               texture_width=8, texture_height=8, texture=b"RIFFxxxx")])
    for frame in (masked, textured):
        assert pack(frame)[5] & 0x08
        _round_trip(frame)


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8", "bgra8", "rgba8", "mono16",
                                      "8UC3", "", "weird", "x" * 32, "ünï"])
def test_source_encodings_round_trip(encoding):
    frame = _frame(source_encoding=encoding)
    back = _round_trip(frame)
    assert back.source_encoding == encoding
    size = len(pack(frame)) - len(pack(_frame(source_encoding="bgr8")))
    assert size == (0 if encoding in ENCODING_CODES else len(encoding.encode()) + 1)


@pytest.mark.parametrize("ms", [0.0, 0.1, 12.3, 6553.5])
def test_encode_time_round_trips_in_tenths_of_a_millisecond(ms):
    assert _round_trip(_frame(encode_time_ms=q_time(ms))).encode_time_ms == ms


def test_encode_time_saturates_and_must_be_finite():
    assert unpack(pack(_frame(encode_time_ms=1e300))).encode_time_ms == 6553.5
    assert q_time(123.456) == 123.5
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(BitstreamError, match="encode_time"):
            pack(_frame(encode_time_ms=bad))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (5, 6), (18, 24), (40, 40)])
def test_weight_maps_round_trip_raw_or_deflated(shape):
    rng = np.random.default_rng(sum(shape))
    frame = _frame(weight_map=(rng.integers(0, 16, shape) * 17).astype(np.uint8))
    _round_trip(frame)
    flat = _frame(weight_map=np.full(shape, 34, np.uint8))
    _round_trip(flat)


def test_weight_map_must_have_16_levels():
    with pytest.raises(BitstreamError, match="17"):
        validate_frame(_frame(weight_map=np.full((2, 2), 5, np.uint8)), LimitsConfig())


def test_v2_stream_is_refused_with_a_clear_error():
    data = bytearray(pack(_frame([_person((0, 0, 8, 8))])))
    data[3] = 2
    with pytest.raises(BitstreamError, match="unsupported format version 2.*format 3"):
        unpack(_with_crc(bytes(data[:-4])))


def _body(frame: CodedFrame) -> bytearray:
    return bytearray(pack(frame)[:-4])


@pytest.mark.parametrize("edit", [
    lambda b: b.__setitem__(5, b[5] | 0x20),             # unknown frame flag
    lambda b: b.__setitem__(5, b[5] | 7),                # grid the boxes are not on
    lambda b: b.__setitem__(5, b[5] | 0x08),             # object flags without masks/textures
    lambda b: b.__setitem__(5, b[5] | 0x10),             # deflated map that is raw
    lambda b: b.__setitem__(12, 99),                     # unknown source encoding code
    lambda b: b.__delitem__(slice(len(b) - 1, len(b))),  # truncated
    lambda b: b.append(0),                               # trailing byte
])
def test_malformed_v3_frames_are_refused(edit):
    frame = _frame([_person((8, 16, 32, 64)), _person((40, 16, 8, 8))],
                   weight_map=np.full((1, 1), 17, np.uint8))
    body = _body(frame)
    assert body[5] == 3 and body[12] == 1  # grid 8, raw map; bgr8 after seq, w, h, budget
    edit(body)
    with pytest.raises(BitstreamError):
        unpack(_with_crc(bytes(body)))


def _objects_body(entry: bytes, box: bytes) -> bytes:
    """A 64x48 frame with one object: class table ``entry``, box varints ``box``."""
    body = bytearray(b"SCF\x03\x00\x00")  # level 0, grid 1, no flags
    body += bytes([1, 64, 48, 0, 1, 0, 0, 0, 0, 0, 0, 0])  # seq..time, no map, no layers
    body += bytes([1, 1]) + entry + bytes([200, 100]) + box
    return _with_crc(bytes(body))


def test_hand_built_v3_frame_decodes():
    frame = unpack(_objects_body(bytes([0]), bytes([1, 2, 30, 40])))
    assert frame.objects == [CodedObject(0, "person", 200 / 255, 100 / 255, (1, 2, 30, 40))]


@pytest.mark.parametrize("entry,box", [
    (bytes([160, 1]), bytes([1, 2, 3, 4])),          # class 80 without a label: no standard
    (bytes([1, 6]) + b"person", bytes([1, 2, 3, 4])),  # standard label sent as text
    (bytes([1, 2, 0xff, 0xfe]), bytes([1, 2, 3, 4])),  # label not UTF-8
    (bytes([1, 200]), bytes([1, 2, 3, 4])),          # label longer than the frame
    (bytes([0]), bytes([2, 4, 8, 8])),               # grid 1, but the box is on grid 2
    (bytes([0]), bytes([0x81, 0x00, 2, 3, 4])),      # varint not in its shortest form
    (bytes([0]), bytes([64, 0, 1, 1])),              # box starts at the right edge
    (bytes([0]), bytes([0, 0, 0, 4])),               # empty box
    (bytes([0]), bytes([60, 0, 5, 4])),              # box past the right edge
    (bytes([0]), bytes([0, 40, 4, 9])),              # box past the bottom edge
    (bytes([0]), bytes([0xff, 0xff, 0xff, 0x7f, 1, 1, 1])),  # coordinate over max_dimension
    (bytes([0xff, 0xff, 0x7f]), bytes([1, 2, 3, 4])),  # class id over 65535
])
def test_out_of_bounds_v3_objects_are_refused(entry, box):
    with pytest.raises(BitstreamError):
        unpack(_objects_body(entry, box))


def test_every_truncation_and_bit_flip_is_refused_or_valid():
    frame = _frame([_person((8, 16, 32, 64), mask_width=2, mask_height=2, mask=b"\x01\x02\x01"),
                    CodedObject(90, "drone", 0.5, 0.25, (1, 2, 3, 4))],
                   weight_map=np.array([[17, 34, 51]], np.uint8), source_encoding="odd",
                   encode_time_ms=4.5)
    data = pack(frame)
    assert not data[5] & 0x10  # a raw map (a deflate stream has equivalent spellings)
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            unpack(data[:cut])
    for pos in range(4, len(data) - 4):
        for bit in range(8):
            body = bytearray(data[:-4])
            body[pos] ^= 1 << bit
            try:
                back = unpack(_with_crc(bytes(body)))
            except BitstreamError:
                continue
            assert pack(back) == _with_crc(bytes(body))  # accepted: a legal, canonical frame


def test_box_grid_rule_follows_budget_and_picture_size():
    assert box_grid(768, 576, 187) == 8      # 15 kbit/s at 10 fps: one-byte coordinates
    assert box_grid(640, 480, 375) == 4
    assert box_grid(768, 576, 6250) == 2
    assert box_grid(768, 576, 100_000) == 1
    assert box_grid(320, 240, 0) == 4        # no budget: the one-byte grid
    assert box_grid(4096, 3072, 50) == 16    # capped
    assert box_grid(64, 48, 10) == 1         # small pictures are one byte at grid 1


def test_encoder_snaps_boxes_outward_to_its_grid():
    from semcomm_ros.codec.detect import Detection

    det = Detection(0, "person", 0.9, (13, 21, 37, 51))
    (obj,) = build_objects([det], [0.8], 576, 768, 0.0, 0, grid=8)
    assert obj.box == (8, 16, 48, 56)
    (edge,) = build_objects([Detection(0, "person", 0.9, (741, 560, 27, 16))], [0.8], 576, 768,
                            0.0, 0, grid=16)
    assert edge.box == (736, 560, 32, 16)
    (odd,) = build_objects([Detection(0, "person", 0.9, (741, 560, 29, 17))], [0.8], 577, 770,
                           0.0, 0, grid=16)
    assert odd.box == (736, 560, 34, 17)  # far edges clip to the picture
