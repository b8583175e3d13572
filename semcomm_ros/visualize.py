"""Pictures for people: weight-map overlays, detection boxes, side-by-side panels."""
from __future__ import annotations

import cv2
import numpy as np


def heatmap(weight_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float map in [0,1] -> BGR colour map at ``size`` = (width, height)."""
    w = np.clip(np.nan_to_num(weight_map.astype(np.float32)), 0.0, 1.0)
    w = cv2.resize(w, size, interpolation=cv2.INTER_LINEAR)
    return cv2.applyColorMap((w * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)


def draw_objects(image: np.ndarray, objects) -> np.ndarray:
    """Boxes and 'label weight' tags of CodedObjects drawn on a copy of ``image``."""
    out = image.copy()
    for o in objects:
        x, y, w, h = (int(v) for v in o.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 255, 0), 2)
        tag = f"{o.label} {o.weight:.2f}"
        cv2.putText(out, tag, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 255, 0), 1, cv2.LINE_AA)
    return out


def weight_overlay(image: np.ndarray, decoded, alpha: float = 0.45) -> np.ndarray:
    """The image blended with its weight map's heat map, with detections drawn."""
    h, w = image.shape[:2]
    blend = cv2.addWeighted(image, 1.0 - alpha, heatmap(decoded.weight_map, (w, h)), alpha, 0)
    return draw_objects(blend, decoded.objects)


def side_by_side(panels: list[np.ndarray], titles: list[str], height: int = 360) -> np.ndarray:
    """Panels resized to one height, titled, concatenated left to right."""
    out = []
    for img, title in zip(panels, titles):
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        scale = height / img.shape[0]
        img = cv2.resize(img, (int(round(img.shape[1] * scale)), height),
                         interpolation=cv2.INTER_AREA)
        cv2.rectangle(img, (0, 0), (img.shape[1], 24), (0, 0, 0), -1)
        cv2.putText(img, title, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                    cv2.LINE_AA)
        out.append(img)
    return np.concatenate(out, axis=1)
