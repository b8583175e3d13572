"""The codec's data model: one coded frame and its objects.

These dataclasses mirror ``msg/WeightedSemantics.msg`` and
``msg/SemanticObject.msg`` field for field, so the ROS nodes convert with a
plain field copy (semcomm_ros/nodes/convert.py) and the codec itself never
imports ROS. ``docs/messages.md`` documents every field.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORMAT_VERSION = 1

# Scalability levels, as in WeightedSemantics.msg
LEVEL_SEMANTIC = 0    # objects, masks, weight map, gist only
LEVEL_BACKGROUND = 1  # + coarse background
LEVEL_OBJECTS = 2     # + key-object textures
LEVEL_FULL = 3        # + every object's texture at full quality


class BitstreamError(ValueError):
    """A coded frame is malformed: wrong version, bad length, undecodable layer."""


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

    def payload_bytes(self) -> int:
        """Bytes this frame costs on the wire: its packed size (docs/bitstream.md)."""
        from semcomm_ros.codec.bitstream import packed_size  # bitstream imports this module

        return packed_size(self)
