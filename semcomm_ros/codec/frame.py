"""The codec's data model: one coded frame and its objects.

These dataclasses mirror ``msg/WeightedSemantics.msg`` and
``msg/SemanticObject.msg`` field for field, so the ROS nodes convert with a
plain field copy (semcomm_ros/nodes/convert.py) and the codec itself never
imports ROS. ``docs/messages.md`` documents every field.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORMAT_VERSION = 3

# Texture modes (docs/bitstream.md, "Reference model"): how the texture layer builds the picture
MODE_INDEPENDENT = 0  # region / video coders: the layers as in format 1, no named reference
MODE_SKIP = 1         # the picture is the decoder's canvas of ref_sequence, unchanged
MODE_STILL = 2        # the background layer (WebP/JPEG) is the whole picture (intra)
MODE_VIDEO = 3        # an H.264 P-frame against a synthetic IDR of canvas[ref_sequence]
MODE_PART = 4         # a part of a still that a later frame completes (thin links)
TEXTURE_MODES = (MODE_INDEPENDENT, MODE_SKIP, MODE_STILL, MODE_VIDEO, MODE_PART)
MODE_NAMES = {MODE_INDEPENDENT: "independent", MODE_SKIP: "skip", MODE_STILL: "still",
              MODE_VIDEO: "video", MODE_PART: "part"}

# Scalability levels, as in WeightedSemantics.msg
LEVEL_SEMANTIC = 0    # objects, masks, weight map, gist only
LEVEL_BACKGROUND = 1  # + coarse background
LEVEL_OBJECTS = 2     # + key-object textures
LEVEL_FULL = 3        # + every object's texture at full quality


class BitstreamError(ValueError):
    """A coded frame is malformed: wrong version, bad length, undecodable layer."""


class LimitExceeded(BitstreamError):
    """A well-formed frame asks for more than the configured limits allow (``LimitsConfig``)."""


class MissingReference(BitstreamError):
    """The frame builds on a canvas (``ref_sequence``) the decoder does not hold."""


class ReferenceMismatch(BitstreamError):
    """The decoder's synthetic key frame differs from the encoder's (``prime_crc``)."""


@dataclass
class CodedObject:
    """One detected object and its (optional) texture layer."""

    class_id: int
    label: str
    confidence: float
    weight: float
    box: tuple[int, int, int, int]          # x, y, width, height in source pixels
    mask_width: int = 0
    mask_height: int = 0
    mask: bytes = b""                        # run-length coded, docs/bitstream.md
    texture_codec: str = ""
    texture_quality: int = 0
    texture_width: int = 0
    texture_height: int = 0
    texture: bytes = b""


@dataclass
class CodedFrame:
    """One frame of the layered bitstream."""

    sequence: int
    source_width: int
    source_height: int
    source_encoding: str = "bgr8"
    format_version: int = FORMAT_VERSION
    level: int = LEVEL_SEMANTIC
    byte_budget: int = 0
    bytes_used: int = 0
    weight_map: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    objects: list[CodedObject] = field(default_factory=list)
    gist_codec: str = ""
    gist_width: int = 0
    gist_height: int = 0
    gist: bytes = b""
    background_codec: str = ""
    background_quality: int = 0
    background_width: int = 0
    background_height: int = 0
    background: bytes = b""
    encode_time_ms: float = 0.0
    texture_mode: int = MODE_INDEPENDENT     # MODE_* above
    ref_sequence: int = 0                    # canvas this frame builds on (skip, video)
    video_q: int = 0                         # video: x264 CRF x 4 (0..204)
    prime_crc: int = 0                       # video: CRC-32 of the synthetic IDR packet
    texture_parts: int = 0                   # part: its index (1..); still: parts before it

    def payload_bytes(self) -> int:
        """Bytes this frame costs on the wire: its packed size (docs/bitstream.md)."""
        from semcomm_ros.codec.bitstream import packed_size  # bitstream imports this module

        return packed_size(self)
