"""Messages <-> library objects: sensor_msgs/Image <-> BGR arrays, WeightedSemantics <-> CodedFrame.

cv_bridge is used where it imports (native ROS 2 installs); elsewhere the
tested converter in semcomm_ros.io.image_encoding does the same job.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from semcomm_ros.codec.bitstream import pack, packed_size
from semcomm_ros.codec.config import LimitsConfig
from semcomm_ros.codec.frame import BitstreamError, CodedFrame, CodedObject, LimitExceeded
from semcomm_ros.io.image_encoding import (
    bgr_to_image_fields,
    bgr_to_jpeg,
    compressed_to_bgr,
    image_to_bgr,
)
from semcomm_ros.msg import SemanticObject, WeightedSemantics

try:  # pragma: no cover - depends on the installation
    from cv_bridge import CvBridge

    _BRIDGE: CvBridge | None = CvBridge()
except Exception:  # noqa: BLE001 - missing, or the broken ROS 1 port from PyPI
    _BRIDGE = None


def image_msg_to_bgr(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> HxWx3 uint8 BGR (raises ImageEncodingError on bad input)."""
    if _BRIDGE is not None and msg.encoding in ("bgr8", "rgb8", "mono8"):
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="bgr8"))
    return image_to_bgr(msg.data, msg.width, msg.height, msg.encoding, msg.step,
                        bool(msg.is_bigendian))


def bgr_to_image_msg(img: np.ndarray, header: Header) -> Image:
    """HxWx3 uint8 BGR -> bgr8 sensor_msgs/Image."""
    fields = bgr_to_image_fields(img)
    msg = Image(header=header, height=fields["height"], width=fields["width"],
                encoding="bgr8", is_bigendian=0, step=fields["step"])
    msg.data = fields["data"]
    return msg


def compressed_msg_to_bgr(msg: CompressedImage, max_side: int = 8192) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG/PNG) -> HxWx3 uint8 BGR (ImageEncodingError if bad)."""
    return compressed_to_bgr(msg.data, msg.format, max_side)


def bgr_to_compressed_msg(img: np.ndarray, header: Header, quality: int = 85
                          ) -> CompressedImage:
    """HxWx3 uint8 BGR -> sensor_msgs/CompressedImage, format "jpeg" (image_transport)."""
    msg = CompressedImage(header=header, format="jpeg")
    msg.data = bgr_to_jpeg(img, quality)
    return msg


def stamp_to_ns(t: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    sec, nsec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nsec)


def frame_to_msg(frame: CodedFrame, header: Header) -> WeightedSemantics:
    """CodedFrame -> WeightedSemantics (field copy)."""
    msg = WeightedSemantics(header=header)
    for name in ("sequence", "source_width", "source_height", "source_encoding",
                 "format_version", "level", "byte_budget", "bytes_used",
                 "gist_codec", "gist_width", "gist_height", "background_codec",
                 "background_quality", "background_width", "background_height",
                 "texture_mode", "ref_sequence", "video_q", "prime_crc", "texture_parts"):
        setattr(msg, name, getattr(frame, name))
    msg.encode_time_ms = float(frame.encode_time_ms)
    wm = np.ascontiguousarray(frame.weight_map, dtype=np.uint8)
    msg.weight_map_height, msg.weight_map_width = (wm.shape if wm.ndim == 2 else (0, 0))
    msg.weight_map = wm.tobytes()
    msg.gist = bytes(frame.gist)
    msg.background = bytes(frame.background)
    msg.objects = [_object_to_msg(o) for o in frame.objects]
    msg.payload_crc = payload_crc(_frame_from_msg(msg))  # over what the receiver rebuilds
    return msg


def payload_crc(frame: CodedFrame, limits: LimitsConfig | None = None) -> int:
    """The CRC-32 of the frame's packed bitstream.

    ``bitstream.pack`` validates the frame and ends the bitstream with the CRC of
    everything before it; that trailer is the value.
    """
    return int.from_bytes(pack(frame, limits or LimitsConfig())[-4:], "little")


def _object_to_msg(o: CodedObject) -> SemanticObject:
    x, y, w, h = (int(v) for v in o.box)
    m = SemanticObject(class_id=o.class_id, label=o.label, confidence=float(o.confidence),
                       weight=float(o.weight),
                       box=RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h),
                       mask_width=o.mask_width, mask_height=o.mask_height,
                       texture_codec=o.texture_codec, texture_quality=o.texture_quality,
                       texture_width=o.texture_width, texture_height=o.texture_height)
    m.mask = bytes(o.mask)
    m.texture = bytes(o.texture)
    return m


def _printable(text: str, limit: int) -> bool:
    """At most ``limit`` UTF-8 bytes, no control characters."""
    return len(text) <= limit and len(text.encode()) <= limit and text.isprintable()


def check_message(msg: WeightedSemantics, limits: LimitsConfig) -> None:
    """Bounds on the message itself, checked before any of its arrays is copied.

    LimitExceeded when the message is over a limit (total payload bytes, object
    count, header.frame_id length); BitstreamError for text fields that are not
    short printable strings. The codec's decoder then checks every field of the
    frame (``validate_frame``: dimensions, pixels, work, codecs, references).
    """
    if len(msg.objects) > limits.max_objects:
        raise LimitExceeded(f"{len(msg.objects)} objects over limits.max_objects "
                            f"{limits.max_objects}")
    total = len(msg.weight_map) + len(msg.gist) + len(msg.background) + sum(
        len(o.mask) + len(o.texture) + len(o.label) for o in msg.objects)
    if total > limits.max_frame_bytes:
        raise LimitExceeded(f"{total} payload bytes over limits.max_frame_bytes "
                            f"{limits.max_frame_bytes}")
    if not _printable(msg.header.frame_id, limits.max_frame_id_chars):
        raise LimitExceeded(f"header.frame_id of {len(msg.header.frame_id)} characters is "
                            f"printable within {limits.max_frame_id_chars} bytes")
    names = [msg.source_encoding, msg.gist_codec, msg.background_codec]
    names += [o.texture_codec for o in msg.objects]
    if not all(_printable(n, 32) for n in names):
        raise BitstreamError("an encoding or codec name is not a short printable string")
    if not all(_printable(o.label, limits.max_label_chars) for o in msg.objects):
        raise BitstreamError("an object label is not printable within "
                             f"{limits.max_label_chars} bytes")
    if max(int(msg.weight_map_width), int(msg.weight_map_height)) > limits.max_weight_map_side:
        raise LimitExceeded("weight map over limits.max_weight_map_side")


def msg_to_frame(msg: WeightedSemantics, limits: LimitsConfig | None = None) -> CodedFrame:
    """WeightedSemantics -> CodedFrame, after :func:`check_message`.

    BitstreamError (or its LimitExceeded) when the message is out of bounds or the
    weight map's size is wrong; the codec's decoder checks the rest.
    """
    limits = limits or LimitsConfig()
    check_message(msg, limits)
    frame = _frame_from_msg(msg)
    if payload_crc(frame, limits) != msg.payload_crc:
        raise BitstreamError("payload CRC mismatch: the message was changed after encoding")
    return frame


def _frame_from_msg(msg: WeightedSemantics) -> CodedFrame:
    """The field copy behind :func:`msg_to_frame` (no checks but the weight map's size)."""
    wm = np.frombuffer(bytes(msg.weight_map), dtype=np.uint8)
    h, w = int(msg.weight_map_height), int(msg.weight_map_width)
    if h * w != wm.size:
        raise BitstreamError(f"weight map declared {w}x{h} but carries {wm.size} bytes")
    wm = wm.reshape(h, w)
    return CodedFrame(
        sequence=msg.sequence, source_width=msg.source_width,
        source_height=msg.source_height, source_encoding=msg.source_encoding,
        format_version=msg.format_version, level=msg.level, byte_budget=msg.byte_budget,
        bytes_used=msg.bytes_used, weight_map=wm,
        objects=[CodedObject(
            class_id=o.class_id, label=o.label, confidence=o.confidence, weight=o.weight,
            box=(o.box.x_offset, o.box.y_offset, o.box.width, o.box.height),
            mask_width=o.mask_width, mask_height=o.mask_height, mask=bytes(o.mask),
            texture_codec=o.texture_codec, texture_quality=o.texture_quality,
            texture_width=o.texture_width, texture_height=o.texture_height,
            texture=bytes(o.texture)) for o in msg.objects],
        gist_codec=msg.gist_codec, gist_width=msg.gist_width, gist_height=msg.gist_height,
        gist=bytes(msg.gist), background_codec=msg.background_codec,
        background_quality=msg.background_quality, background_width=msg.background_width,
        background_height=msg.background_height, background=bytes(msg.background),
        encode_time_ms=msg.encode_time_ms, texture_mode=msg.texture_mode,
        ref_sequence=msg.ref_sequence, video_q=msg.video_q, prime_crc=msg.prime_crc,
        texture_parts=msg.texture_parts,
    )


def received_bytes(msg: WeightedSemantics, frame: CodedFrame | None) -> int:
    """Wire size of a frame that arrived, the codec's measure (as ``bytes_used``).

    Counted from what arrived, not taken from the sender's ``bytes_used``; a frame
    too malformed to pack is counted by the length of its layers.
    """
    if frame is not None:
        try:
            return packed_size(frame)
        except BitstreamError:
            pass
    return (len(msg.weight_map) + len(msg.gist) + len(msg.background)
            + sum(len(o.mask) + len(o.texture) for o in msg.objects))
