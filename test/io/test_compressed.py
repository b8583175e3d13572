"""CompressedImage payloads: JPEG/PNG decode, sizes checked before decoding, bad input refused."""
import zlib

import cv2
import numpy as np
import pytest

from semcomm_ros.io.image_encoding import ImageEncodingError, bgr_to_jpeg, compressed_to_bgr


def _picture():
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (0, 0, 255)
    return img


def test_jpeg_and_png_round_trip():
    img = _picture()
    back = compressed_to_bgr(bgr_to_jpeg(img, 95), "jpeg")
    assert back.shape == img.shape and np.abs(back.astype(int) - img).mean() < 3
    ok, png = cv2.imencode(".png", img)
    assert np.array_equal(compressed_to_bgr(png.tobytes(), "bgr8; png compressed bgr8"), img)


@pytest.mark.parametrize("side", [9000, 100000])
def test_a_huge_declared_picture_is_refused_before_decoding(side):
    ok, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(png.tobytes())
    data[16:24] = side.to_bytes(4, "big") + side.to_bytes(4, "big")  # IHDR size
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # a valid header
    with pytest.raises(ImageEncodingError, match="outside|bomb"):
        compressed_to_bgr(bytes(data), "png")


@pytest.mark.parametrize("payload,fmt,match", [
    (b"", "jpeg", "bytes"),
    (b"\x00" * 100, "jpeg", "not a JPEG"),
    (b"GIF89a" + b"\x00" * 50, "gif", "not a JPEG|unsupported"),
    (b"\xff\xd8\xff" + b"\x00" * 20, "jpeg", "not a JPEG|does not decode"),
    (b"whatever", "16UC1; compressedDepth", "compressedDepth"),
])
def test_bad_payloads_are_clear_errors(payload, fmt, match):
    with pytest.raises(ImageEncodingError, match=match):
        compressed_to_bgr(payload, fmt)
