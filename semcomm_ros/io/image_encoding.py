"""sensor_msgs/Image encodings <-> numpy arrays, without ROS or cv_bridge.

Used where cv_bridge is not available (the pip environment: PyPI's cv-bridge
is a ROS 1 port that breaks under numpy 2). Covers the encodings a camera
driver commonly publishes; everything is converted to BGR8 for the codec.
"""
from __future__ import annotations

import cv2
import numpy as np

#: encoding -> (channels, numpy dtype)
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "bgr8": (3, np.dtype(np.uint8)),
    "rgb8": (3, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "8UC1": (1, np.dtype(np.uint8)),
    "8UC3": (3, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
}

#: largest image accepted, pixels per side (bounds allocations on bad input)
MAX_SIDE = 8192


class ImageEncodingError(ValueError):
    """An image message cannot be interpreted."""


def image_to_bgr(data: bytes | bytearray | memoryview | np.ndarray, width: int, height: int,
                 encoding: str, step: int, is_bigendian: bool = False) -> np.ndarray:
    """Turn the fields of a sensor_msgs/Image into an HxWx3 uint8 BGR array (a copy)."""
    if encoding not in ENCODINGS:
        raise ImageEncodingError(f"unsupported image encoding {encoding!r} "
                                 f"(supported: {', '.join(ENCODINGS)})")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ImageEncodingError(f"image size {width}x{height} outside 1..{MAX_SIDE}")
    channels, dtype = ENCODINGS[encoding]
    row = width * channels * dtype.itemsize
    if step < row:
        raise ImageEncodingError(f"step {step} shorter than a row ({row} bytes)")
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size < step * height:
        raise ImageEncodingError(f"data has {buf.size} bytes, {step * height} expected")
    rows = buf[: step * height].reshape(height, step)[:, :row]
    dt = dtype.newbyteorder(">" if is_bigendian else "<") if dtype.itemsize > 1 else dtype
    img = np.ascontiguousarray(rows).view(dt).reshape(height, width, channels)
    if dtype.itemsize > 1:
        img = (img.astype(np.uint32) >> 8).astype(np.uint8)
    if encoding in ("rgb8",):
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if encoding == "rgba8":
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR)
    if encoding == "bgra8":
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img.copy()


def bgr_to_image_fields(img: np.ndarray) -> dict:
    """HxWx3 uint8 BGR -> the fields of a bgr8 sensor_msgs/Image."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ImageEncodingError(f"expected HxWx3 uint8, got {img.shape} {img.dtype}")
    img = np.ascontiguousarray(img)
    h, w = img.shape[:2]
    return {"height": h, "width": w, "encoding": "bgr8", "is_bigendian": 0,
            "step": w * 3, "data": img.tobytes()}


#: largest compressed image accepted, bytes (a 8192x8192 JPEG at high quality is far less)
MAX_COMPRESSED_BYTES = 64 * 1024 * 1024


def compressed_to_bgr(data: bytes | bytearray | memoryview | np.ndarray, fmt: str = "",
                      max_side: int = MAX_SIDE) -> np.ndarray:
    """A sensor_msgs/CompressedImage payload (JPEG or PNG) -> HxWx3 uint8 BGR.

    The picture's size is read from its header (Pillow, no pixels decoded) and
    checked against ``max_side`` before anything is decoded, so a small message
    that declares a huge picture is refused without allocating it. ``fmt`` is the
    message's ``format`` field ("jpeg", "png", "bgr8; jpeg compressed bgr8", ...);
    image_transport's compressedDepth (16-bit depth) is refused.
    """
    import io

    from PIL import Image as PILImage

    if "compresseddepth" in fmt.replace(" ", "").lower():
        raise ImageEncodingError("compressedDepth images are not camera pictures")
    buf = bytes(data) if not isinstance(data, bytes) else data
    if not 0 < len(buf) <= MAX_COMPRESSED_BYTES:
        raise ImageEncodingError(f"compressed image of {len(buf)} bytes")
    try:
        with PILImage.open(io.BytesIO(buf)) as probe:
            width, height = probe.size
            kind = probe.format
    except Exception as exc:  # noqa: BLE001 - any unreadable header is a bad image
        raise ImageEncodingError(f"not a JPEG/PNG image: {exc}") from exc
    if kind not in ("JPEG", "PNG"):
        raise ImageEncodingError(f"unsupported compressed format {kind}")
    if not (1 <= width <= max_side and 1 <= height <= max_side):
        raise ImageEncodingError(f"compressed image size {width}x{height} outside 1..{max_side}")
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape[:2] != (height, width):
        raise ImageEncodingError("compressed image does not decode")
    return img


def bgr_to_jpeg(img: np.ndarray, quality: int = 85) -> bytes:
    """HxWx3 uint8 BGR -> JPEG bytes (the payload of a CompressedImage, format "jpeg")."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ImageEncodingError(f"expected HxWx3 uint8, got {img.shape} {img.dtype}")
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageEncodingError("JPEG encoding failed")
    return data.tobytes()
