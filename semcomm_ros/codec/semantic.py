"""The semantic layer: objects (class, confidence, weight, box, mask), weight map, gist.

It always goes first and decodes alone. :func:`build_objects` turns detections
into :class:`CodedObject` s (padded boxes, run-length masks, weights rounded to
what the wire carries); :func:`make_gist` codes a tiny thumbnail of the frame.
"""
from __future__ import annotations

import math

import numpy as np

from semcomm_ros.codec import imagecodec
from semcomm_ros.codec.bitstream import q8
from semcomm_ros.codec.config import LimitsConfig
from semcomm_ros.codec.detect import Detection, clip_box
from semcomm_ros.codec.frame import CodedFrame, CodedObject
from semcomm_ros.codec.masks import mask_to_cells, rle_encode
from semcomm_ros.codec.region import resize_to

MAX_BOX_GRID = 16  # px: the coarsest box grid the encoder picks (docs/bitstream.md)


def box_grid(width: int, height: int, byte_budget: int) -> int:
    """The box grid (a power of two, 1..16 px) for a picture size and a frame budget.

    Finer when bytes are plentiful: a grid cell is at most 1/16 of the picture area
    one byte of the budget pays for (side <= sqrt(pixels / budget) / 4), so box edges
    stay finer than any texture the link can carry. Never coarser than the grid at
    which every coordinate is one varint byte (< 128 cells a side): coarser saves
    nothing. Rule of docs/bitstream.md, "Box grid".
    """
    one_byte = 1
    while math.ceil(max(width, height) / one_byte) > 128:
        one_byte *= 2
    limit = min(one_byte, MAX_BOX_GRID)
    if byte_budget <= 0:
        return limit
    side = math.sqrt(width * height / byte_budget) / 4
    grid = 1
    while grid * 2 <= min(side, limit):
        grid *= 2
    return grid


def snap_box(box: tuple[int, int, int, int], grid: int, height: int, width: int
             ) -> tuple[int, int, int, int]:
    """Grow ``box`` outward to the grid (far edges clipped to the picture)."""
    x, y, w, h = box
    x0, y0 = x // grid * grid, y // grid * grid
    x1 = min(width, -(-(x + w) // grid) * grid)
    y1 = min(height, -(-(y + h) // grid) * grid)
    return x0, y0, x1 - x0, y1 - y0


def build_objects(dets: list[Detection], weights: list[float], height: int, width: int,
                  padding: float, mask_cells: int, grid: int = 1) -> list[CodedObject]:
    """Detections -> CodedObjects sorted by weight (highest first), masks RLE-coded.

    Boxes are padded, clipped to the picture, then snapped outward to ``grid`` pixels.
    """
    objects = []
    for det, weight in sorted(zip(dets, weights), key=lambda p: -p[1]):
        x, y, w, h = det.box
        pad_x, pad_y = padding * w, padding * h
        box = clip_box(x - pad_x, y - pad_y, x + w + pad_x, y + h + pad_y, width, height)
        if box is None:
            continue
        box = snap_box(box, max(1, int(grid)), height, width)
        obj = CodedObject(class_id=int(det.class_id), label=det.label,
                          confidence=q8(det.confidence), weight=q8(weight), box=box)
        if det.mask is not None and mask_cells > 0:
            cells = mask_to_cells(det.mask, box, mask_cells)
            if cells.any() and not cells.all():
                obj.mask = rle_encode(cells)
                obj.mask_height, obj.mask_width = cells.shape
        objects.append(obj)
    return objects


def make_gist(image: np.ndarray, width: int, quality: int) -> tuple[str, int, int, bytes]:
    """Tiny WebP thumbnail of the frame: (codec, width, height, bytes); empty when width 0."""
    if width <= 0:
        return "", 0, 0, b""
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    data = imagecodec.encode(resize_to(image, width, height), "webp", quality)
    return "webp", width, height, data


def set_gist(frame: CodedFrame, gist: tuple[str, int, int, bytes]) -> None:
    """Store a gist tuple in a frame."""
    frame.gist_codec, frame.gist_width, frame.gist_height, frame.gist = gist


def strip_masks(frame: CodedFrame) -> None:
    """Drop every object mask (the box then stands for the object)."""
    for obj in frame.objects:
        obj.mask, obj.mask_width, obj.mask_height = b"", 0, 0


def shrink_semantics(frame: CodedFrame, max_bytes: int, limits: LimitsConfig) -> int:
    """Drop gist, masks, then the lowest-weight objects until the frame fits ``max_bytes``.

    Returns the packed size, which may still be larger when nothing is left to drop.
    """
    from semcomm_ros.codec.bitstream import pack

    size = len(pack(frame, limits))
    if size > max_bytes and frame.gist:
        set_gist(frame, ("", 0, 0, b""))
        size = len(pack(frame, limits))
    if size > max_bytes and any(o.mask for o in frame.objects):
        strip_masks(frame)
        size = len(pack(frame, limits))
    while size > max_bytes and frame.objects:
        frame.objects.pop()
        size = len(pack(frame, limits))
    return size
