"""Shared fixtures of the codec tests: real sample frames and a scripted detector."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from semcomm_ros.codec.detect import Detection, Detector

DATA = Path(__file__).resolve().parents[2] / "data" / "opencv-doc" / "data"


def read_frames(name: str, count: int, step: int = 1) -> list[np.ndarray]:
    """The first ``count`` frames (every ``step``-th) of a sample clip."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"sample clip {path} missing")
    cap = cv2.VideoCapture(str(path))
    frames = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


@pytest.fixture(scope="session")
def vtest_frames() -> list[np.ndarray]:
    """Eight 768x576 frames of the static-camera pedestrian clip, 0.3 s apart."""
    return read_frames("vtest.avi", 8, step=3)


@pytest.fixture(scope="session")
def box_frames() -> list[np.ndarray]:
    """Four 640x480 frames of the hand-held clip."""
    return read_frames("box.mp4", 4, step=3)


class ScriptedDetector(Detector):
    """Returns fixed detections (scaled to the image), so codec tests are deterministic."""

    name = "scripted"

    def __init__(self, boxes: list[tuple[str, int, float, tuple[float, float, float, float]]]):
        """``boxes``: (label, class_id, confidence, (x, y, w, h) as image fractions)."""
        self.boxes = boxes
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The scripted boxes, with an elliptic mask for the first one."""
        self.calls += 1
        height, width = image.shape[:2]
        out = []
        for i, (label, cid, conf, (fx, fy, fw, fh)) in enumerate(self.boxes):
            box = (int(fx * width), int(fy * height), int(fw * width), int(fh * height))
            mask = None
            if i == 0:
                mask = np.zeros((height, width), np.uint8)
                cx, cy = box[0] + box[2] // 2, box[1] + box[3] // 2
                cv2.ellipse(mask, (cx, cy), (box[2] // 2, box[3] // 2), 0, 0, 360, 1, -1)
                mask = mask.astype(bool)
            out.append(Detection(cid, label, conf, box, mask))
        return out


PEOPLE = [("person", 0, 0.9, (0.40, 0.15, 0.12, 0.45)),
          ("person", 0, 0.8, (0.70, 0.30, 0.10, 0.40)),
          ("bench", 13, 0.6, (0.05, 0.70, 0.20, 0.15))]


@pytest.fixture
def scripted() -> ScriptedDetector:
    """A detector that always reports two people and a bench."""
    return ScriptedDetector(PEOPLE)
