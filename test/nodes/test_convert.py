"""Message <-> library conversions (no ROS graph needed, just the generated types)."""
import numpy as np
import pytest
from std_msgs.msg import Header

from semcomm_ros.codec.frame import BitstreamError, CodedFrame, CodedObject
from semcomm_ros.nodes.convert import (
    bgr_to_image_msg,
    frame_to_msg,
    image_msg_to_bgr,
    msg_to_frame,
    ns_to_stamp,
    received_bytes,
    stamp_to_ns,
)


def sample_frame():
    wm = (np.arange(12, dtype=np.uint8) * 17).reshape(3, 4)  # 16 levels (format 3)
    obj = CodedObject(class_id=0, label="person", confidence=0.75, weight=0.5,
                      box=(10, 8, 30, 40), mask_width=2, mask_height=3, mask=b"\x01\x02",
                      texture_codec="webp", texture_quality=60, texture_width=15,
                      texture_height=20, texture=b"\x00" * 9)
    return CodedFrame(sequence=7, source_width=64, source_height=48, level=2,
                      byte_budget=900, bytes_used=800, weight_map=wm, objects=[obj],
                      gist_codec="jpeg", gist_width=8, gist_height=6, gist=b"g" * 5,
                      background_codec="webp", background_quality=20, background_width=16,
                      background_height=12, background=b"b" * 11, encode_time_ms=3.5)


def test_frame_round_trips_through_the_message():
    frame = sample_frame()
    msg = frame_to_msg(frame, Header(frame_id="cam"))
    assert msg.objects[0].box.x_offset == 10 and msg.objects[0].box.height == 40
    back = msg_to_frame(msg)
    np.testing.assert_array_equal(back.weight_map, frame.weight_map)
    back.weight_map = frame.weight_map
    assert back == frame


def test_weight_map_size_mismatch_is_a_bitstream_error():
    msg = frame_to_msg(sample_frame(), Header())
    msg.weight_map_width = 5
    with pytest.raises(BitstreamError, match="weight map"):
        msg_to_frame(msg)


def test_received_bytes_falls_back_to_layer_lengths_for_garbage():
    msg = frame_to_msg(sample_frame(), Header())
    assert received_bytes(msg, None) == 12 + 5 + 11 + 2 + 9


def test_image_message_round_trip_and_stamps():
    img = np.random.default_rng(3).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    msg = bgr_to_image_msg(img, Header(stamp=ns_to_stamp(1_500_000_123)))
    assert (msg.width, msg.height, msg.encoding, msg.step) == (8, 6, "bgr8", 24)
    np.testing.assert_array_equal(image_msg_to_bgr(msg), img)
    assert stamp_to_ns(msg.header.stamp) == 1_500_000_123


@pytest.mark.parametrize("mutate,error,match", [
    (lambda m: setattr(m.header, "frame_id", "c" * 300), "LimitExceeded", "frame_id"),
    (lambda m: setattr(m.header, "frame_id", "cam\nera"), "LimitExceeded", "frame_id"),
    (lambda m: setattr(m.objects[0], "label", "x" * 65), "BitstreamError", "label"),
    (lambda m: setattr(m.objects[0], "label", "bad\x1blabel"), "BitstreamError", "label"),
    (lambda m: setattr(m, "background_codec", "w" * 40), "BitstreamError", "codec"),
    (lambda m: setattr(m, "objects", [m.objects[0]] * 300), "LimitExceeded", "objects"),
    (lambda m: setattr(m, "background", b"b" * 17_000_000), "LimitExceeded", "payload bytes"),
    (lambda m: setattr(m, "weight_map_width", 2000), "LimitExceeded", "weight map"),
])
def test_hostile_message_fields_are_refused_before_copying(mutate, error, match):
    from semcomm_ros.codec.frame import LimitExceeded

    msg = frame_to_msg(sample_frame(), Header(frame_id="cam"))
    mutate(msg)
    with pytest.raises(BitstreamError, match=match) as info:
        msg_to_frame(msg)
    assert isinstance(info.value, LimitExceeded) == (error == "LimitExceeded")


def test_any_change_after_encoding_fails_the_payload_crc():
    msg = frame_to_msg(sample_frame(), Header(frame_id="cam"))
    assert msg_to_frame(msg).sequence == 7
    for mutate in (lambda m: setattr(m, "sequence", 8),
                   lambda m: setattr(m, "background", b"b" * 10 + b"c"),
                   lambda m: setattr(m, "gist", bytes(m.gist) + b"trailing"),
                   lambda m: setattr(m.objects[0], "confidence", 0.5)):
        bad = frame_to_msg(sample_frame(), Header(frame_id="cam"))
        mutate(bad)
        with pytest.raises(BitstreamError, match="CRC"):
            msg_to_frame(bad)
