import cv2
import numpy as np
import pytest

from semcomm_ros.io.image_encoding import ImageEncodingError, bgr_to_image_fields, image_to_bgr


@pytest.fixture
def bgr():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)


def test_bgr8_round_trip(bgr):
    f = bgr_to_image_fields(bgr)
    assert (f["width"], f["height"], f["step"], f["encoding"]) == (5, 7, 15, "bgr8")
    out = image_to_bgr(f["data"], f["width"], f["height"], f["encoding"], f["step"])
    np.testing.assert_array_equal(out, bgr)


@pytest.mark.parametrize("encoding,conv", [("rgb8", cv2.COLOR_BGR2RGB),
                                           ("rgba8", cv2.COLOR_BGR2RGBA),
                                           ("bgra8", cv2.COLOR_BGR2BGRA)])
def test_colour_encodings(bgr, encoding, conv):
    raw = cv2.cvtColor(bgr, conv)
    out = image_to_bgr(raw.tobytes(), 5, 7, encoding, raw.shape[1] * raw.shape[2])
    np.testing.assert_array_equal(out, bgr)


def test_row_padding_is_skipped(bgr):
    step = 5 * 3 + 4
    padded = np.zeros((7, step), np.uint8)
    padded[:, :15] = bgr.reshape(7, 15)
    np.testing.assert_array_equal(image_to_bgr(padded.tobytes(), 5, 7, "bgr8", step), bgr)


def test_mono16_big_endian_scales_to_8_bit():
    img = np.array([[0, 256, 65535]], dtype=">u2")
    out = image_to_bgr(img.tobytes(), 3, 1, "mono16", 6, is_bigendian=True)
    assert out.shape == (1, 3, 3)
    assert list(out[0, :, 0]) == [0, 1, 255]


@pytest.mark.parametrize("kwargs,match", [
    ({"encoding": "yuv422"}, "unsupported"),
    ({"width": 0}, "outside"),
    ({"height": 100_000}, "outside"),
    ({"step": 3}, "step"),
    ({"data": b"\x00" * 10}, "bytes"),
])
def test_bad_images_raise(kwargs, match):
    args = {"data": b"\x00" * 105, "width": 5, "height": 7, "encoding": "bgr8", "step": 15}
    args.update(kwargs)
    with pytest.raises(ImageEncodingError, match=match):
        image_to_bgr(**args)


def test_wrong_array_rejected():
    with pytest.raises(ImageEncodingError):
        bgr_to_image_fields(np.zeros((4, 4), np.uint8))
