"""Run-length masks: round trip and malformed input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from semcomm_ros.codec.frame import BitstreamError
from semcomm_ros.codec.masks import (
    mask_grid_size,
    mask_to_cells,
    read_varint,
    rle_decode,
    rle_encode,
    write_varint,
)


@settings(max_examples=200, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_rle_round_trip(cells):
    data = rle_encode(cells)
    assert np.array_equal(rle_decode(data, cells.shape[1], cells.shape[0]), cells)


def test_rle_is_compact_for_a_blob():
    cells = np.zeros((24, 24), bool)
    cells[4:20, 6:18] = True
    assert len(rle_encode(cells)) <= 2 * 17


@pytest.mark.parametrize("data,w,h", [
    (b"\x05", 4, 4),               # runs too short
    (b"\x20", 4, 4),               # runs too long
    (b"\x80\x80", 4, 4),           # truncated varint
    (b"\x10", 0, 4),               # zero size
    (b"\x10", 300, 4),             # over the cell limit
])
def test_rle_malformed_raises(data, w, h):
    with pytest.raises(BitstreamError):
        rle_decode(data, w, h)


def test_varint_bounds():
    out = bytearray()
    write_varint(300, out)
    assert read_varint(out, 0, 1000) == (300, 2)
    with pytest.raises(BitstreamError):
        read_varint(out, 0, 299)
    with pytest.raises(BitstreamError):
        write_varint(-1, bytearray())


def test_mask_to_cells_keeps_shape_and_content():
    mask = np.zeros((100, 200), bool)
    mask[20:80, 50:100] = True
    cells = mask_to_cells(mask, (50, 20, 100, 60), 24)
    assert cells.shape == (14, 24) == mask_grid_size(100, 60, 24)[::-1]
    assert cells[:, :11].all() and not cells[:, 13:].any()
