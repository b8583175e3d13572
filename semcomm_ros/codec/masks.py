"""Compact instance masks: a box-relative grid of cells, run-length coded.

Wire form (docs/bitstream.md): the cells are read row-major; the bytes are a
sequence of unsigned LEB128 varints giving alternating run lengths, starting
with a run of 0-cells (which may be empty). The runs must add up to exactly
``width * height``.
"""
from __future__ import annotations

import cv2
import numpy as np

from semcomm_ros.codec.frame import BitstreamError


def write_varint(value: int, out: bytearray) -> None:
    """Append ``value`` (>= 0) as unsigned LEB128."""
    if value < 0:
        raise BitstreamError(f"varint cannot hold negative value {value}")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def read_varint(data: bytes | memoryview, pos: int, max_value: int) -> tuple[int, int]:
    """Read one LEB128 varint at ``pos``: (value, new position); bounded by ``max_value``."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise BitstreamError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if value > max_value:
            raise BitstreamError(f"varint value exceeds limit {max_value}")
        if not byte & 0x80:
            if shift and not byte:
                raise BitstreamError("varint not in its shortest form")
            return value, pos
        shift += 7
        if shift > 63:
            raise BitstreamError("varint too long")


def rle_encode(cells: np.ndarray) -> bytes:
    """Boolean 2-D cell grid -> run-length bytes."""
    flat = np.asarray(cells, bool).ravel()
    out = bytearray()
    if flat.size == 0:
        return bytes(out)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    for run in runs:
        write_varint(int(run), out)
    return bytes(out)


def rle_decode(data: bytes, width: int, height: int, max_cells: int = 256) -> np.ndarray:
    """Run-length bytes -> boolean (height, width) grid; BitstreamError when malformed."""
    if not (0 < width <= max_cells and 0 < height <= max_cells):
        raise BitstreamError(f"mask size {width}x{height} outside 1..{max_cells}")
    total = width * height
    flat = np.zeros(total, bool)
    pos = filled = 0
    value = False
    while pos < len(data):
        run, pos = read_varint(data, pos, total)
        if filled + run > total:
            raise BitstreamError("mask runs overflow the mask size")
        if value:
            flat[filled:filled + run] = True
        filled += run
        value = not value
    if filled != total:
        raise BitstreamError(f"mask runs cover {filled} of {total} cells")
    return flat.reshape(height, width)


def mask_grid_size(box_w: int, box_h: int, cells: int) -> tuple[int, int]:
    """Cell grid (width, height) for a box: the longer side gets ``cells`` cells."""
    longer = max(box_w, box_h, 1)
    scale = min(1.0, cells / longer)
    return max(1, round(box_w * scale)), max(1, round(box_h * scale))


def mask_to_cells(mask: np.ndarray, box: tuple[int, int, int, int], cells: int) -> np.ndarray:
    """Crop a full-size boolean mask to ``box`` and reduce it to the cell grid."""
    x, y, w, h = box
    crop = mask[y:y + h, x:x + w].astype(np.float32)
    gw, gh = mask_grid_size(w, h, cells)
    return cv2.resize(crop, (gw, gh), interpolation=cv2.INTER_AREA) >= 0.5


def cells_to_alpha(cells: np.ndarray, box_w: int, box_h: int, feather: float = 0.0) -> np.ndarray:
    """Cell grid -> float32 alpha (box_h, box_w) in [0, 1], optionally feathered."""
    alpha = cv2.resize(cells.astype(np.float32), (box_w, box_h), interpolation=cv2.INTER_LINEAR)
    if feather > 0.3:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
    return np.clip(alpha, 0.0, 1.0)
