"""Still-image coding (WebP, JPEG) through OpenCV, with bounded decoding.

Before any pixel buffer is allocated, :func:`decode` reads the image size from
the codec header and checks it against the size the frame declared, so a
malformed or hostile header cannot make the decoder allocate gigabytes.
"""
from __future__ import annotations

import struct

import cv2
import numpy as np

from semcomm_ros.codec.frame import BitstreamError

IMAGE_CODECS = ("webp", "jpeg")


def encode(image: np.ndarray, codec: str, quality: int) -> bytes:
    """BGR uint8 image -> codec bytes at ``quality`` (1..100, lossy)."""
    quality = int(np.clip(quality, 1, 100))
    if codec == "webp":
        ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, min(quality, 99)])
    elif codec == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality,
                                               cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    else:
        raise BitstreamError(f"unknown image codec {codec!r}")
    if not ok:
        raise BitstreamError(f"{codec} encoding failed")
    return buf.tobytes()


def _webp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BitstreamError("not a WebP stream")
    kind = data[12:16]
    if kind == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise BitstreamError("bad VP8 start code")
        w, h = struct.unpack_from("<HH", data, 26)
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        if data[20] != 0x2F:
            raise BitstreamError("bad VP8L signature")
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    raise BitstreamError(f"unknown WebP chunk {kind!r}")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    if data[:2] != b"\xff\xd8":
        raise BitstreamError("not a JPEG stream")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BitstreamError("bad JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise BitstreamError("bad JPEG segment length")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                break
            h, w = struct.unpack_from(">HH", data, pos + 5)
            return w, h
        pos += 2 + length
    raise BitstreamError("JPEG stream has no frame header")


def header_size(data: bytes, codec: str) -> tuple[int, int]:
    """(width, height) from the codec header, without decoding pixels."""
    if codec == "webp":
        return _webp_size(data)
    if codec == "jpeg":
        return _jpeg_size(data)
    raise BitstreamError(f"unknown image codec {codec!r}")


def decode(data: bytes, codec: str, width: int, height: int) -> np.ndarray:
    """Codec bytes -> BGR uint8 (height, width); BitstreamError unless it is exactly that."""
    if header_size(data, codec) != (width, height):
        raise BitstreamError(f"{codec} header size {header_size(data, codec)} "
                             f"!= declared {(width, height)}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (height, width):
        raise BitstreamError(f"{codec} texture does not decode to {width}x{height}")
    return image
