"""The weight (significance) map: which pixels matter, in [0, 1].

Each object's weight is its class priority, scaled by detector confidence and
raised for small objects; the map is the maximum over objects of their weight
on a soft-edged mask, over an optional operator region of interest, above a
background floor. The encoder uses the float map; the bitstream carries a small
quantised copy (one byte per ``map_cell`` x ``map_cell`` pixels, 16 levels).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from semcomm_ros.codec.config import WeightConfig
from semcomm_ros.codec.detect import Detection
from semcomm_ros.config import ConfigError

WORK_WIDTH = 160  # the map is computed at this width and resized to the source


def parse_priorities(items: list[str]) -> dict[str, float]:
    """``["person=1.0", "*=0.3"]`` -> ``{"person": 1.0, "*": 0.3}``; ConfigError if malformed."""
    out: dict[str, float] = {}
    for item in items:
        label, sep, value = str(item).partition("=")
        label = label.strip()
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not label or not 0.0 <= number <= 1.0:
            raise ConfigError(f'class priority {item!r} is not "label=value" with value in [0,1]')
        out[label] = number
    return out


def class_priority(priorities: dict[str, float], label: str) -> float:
    """Priority of ``label``: its own entry, else ``*``, else 0.5."""
    return priorities.get(label, priorities.get("*", 0.5))


def object_weight(det: Detection, priorities: dict[str, float], cfg: WeightConfig,
                  image_area: int) -> float:
    """Weight of one object: priority x confidence^power (+ small-object boost), in [0, 1]."""
    confidence = max(det.confidence, 0.0) ** cfg.confidence_power
    weight = class_priority(priorities, det.label) * confidence
    area_fraction = det.box[2] * det.box[3] / max(image_area, 1)
    if area_fraction < 0.01:
        weight += cfg.small_object_boost * (1.0 - area_fraction / 0.01) * (weight > 0)
    return float(np.clip(weight, 0.0, 1.0))


def build_weight_map(dets: list[Detection], height: int, width: int, cfg: WeightConfig,
                     priorities: dict[str, float] | None = None
                     ) -> tuple[np.ndarray, list[float]]:
    """Float32 HxW map in [0, 1] and the weight of each detection."""
    priorities = priorities if priorities is not None else parse_priorities(cfg.class_priorities)
    scale = min(1.0, WORK_WIDTH / width)
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    work = np.full((sh, sw), cfg.background, np.float32)
    sigma = cfg.edge_softness * math.hypot(sw, sh)
    weights = []
    for det in dets:
        weight = object_weight(det, priorities, cfg, height * width)
        weights.append(weight)
        if det.mask is not None:
            small = cv2.resize(det.mask.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        else:
            small = np.zeros((sh, sw), np.float32)
            x, y, w, h = det.box
            x0, y0 = int(x * scale), int(y * scale)
            x1 = max(x0 + 1, math.ceil((x + w) * scale))
            y1 = max(y0 + 1, math.ceil((y + h) * scale))
            small[y0:y1, x0:x1] = 1.0
        if sigma > 0.3:
            small = np.clip(2.0 * cv2.GaussianBlur(small, (0, 0), sigma), 0.0, 1.0)
        np.maximum(work, weight * small, out=work)
    if cfg.roi:
        rx, ry, rw, rh = cfg.roi
        roi = np.zeros_like(work)
        roi[int(ry * sh):math.ceil((ry + rh) * sh), int(rx * sw):math.ceil((rx + rw) * sw)] = 1
        if sigma > 0.3:
            roi = np.clip(2.0 * cv2.GaussianBlur(roi, (0, 0), sigma), 0.0, 1.0)
        np.maximum(work, cfg.roi_weight * roi, out=work)
    full = cv2.resize(work, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(full, 0.0, 1.0).astype(np.float32), weights


def quantise_map(weight_map: np.ndarray, cell: int) -> np.ndarray:
    """Float map -> small uint8 map (one value per cell, 16 levels: multiples of 17)."""
    height, width = weight_map.shape
    qw, qh = max(1, math.ceil(width / cell)), max(1, math.ceil(height / cell))
    small = cv2.resize(weight_map.astype(np.float32), (qw, qh), interpolation=cv2.INTER_AREA)
    return (np.round(np.clip(small, 0.0, 1.0) * 15.0) * 17.0).astype(np.uint8)


def dequantise_map(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """Small uint8 map -> float32 HxW in [0, 1] (bilinear)."""
    if small.size == 0:
        return np.zeros((height, width), np.float32)
    full = cv2.resize(small.astype(np.float32) / 255.0, (width, height),
                      interpolation=cv2.INTER_LINEAR)
    return np.clip(full, 0.0, 1.0).astype(np.float32)
