"""Detectors: the OpenCV fallback on real frames, the YOLO adapter with random weights."""
import logging
import os

import cv2
import numpy as np
import pytest

from semcomm_ros.codec.config import DetectorConfig
from semcomm_ros.codec.detect import (
    DetectorError,
    OpenCVDetector,
    YoloDetector,
    make_detector,
    spectral_residual,
)


def test_hog_finds_people_in_the_pedestrian_clip(vtest_frames):
    det = OpenCVDetector(DetectorConfig(use_motion=False, use_saliency=False))
    found = [d for frame in vtest_frames[:4] for d in det.detect(frame)]
    people = [d for d in found if d.label == "person"]
    assert people, "HOG found no person in four frames of vtest.avi"
    for d in people:
        x, y, w, h = d.box
        assert 0 <= x and 0 <= y and x + w <= 768 and y + h <= 576
        assert h > w and 0 < d.confidence < 1


def test_motion_finds_a_moving_square():
    det = OpenCVDetector(DetectorConfig(use_hog=False, use_saliency=False))
    rng = np.random.default_rng(1)
    patch = rng.integers(0, 255, (50, 40, 3), dtype=np.uint8)  # a textured object
    a = np.full((240, 320, 3), 90, np.uint8)
    b = a.copy()
    a[100:150, 100:140] = patch
    b[100:150, 110:150] = patch
    assert det.detect(a) == []  # first frame: nothing to compare with
    moving = det.detect(b)
    assert len(moving) == 1 and moving[0].label == "motion"
    x, y, w, h = moving[0].box
    assert x <= 112 and x + w >= 148 and y <= 102 and y + h >= 148


def test_saliency_marks_an_odd_blob():
    rng = np.random.default_rng(0)
    image = (rng.normal(100, 4, (200, 200, 3))).clip(0, 255).astype(np.uint8)
    cv2.circle(image, (150, 60), 18, (20, 200, 240), -1)
    sal = spectral_residual(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert sal.shape == (64, 64) and sal.max() == pytest.approx(1.0)
    det = OpenCVDetector(DetectorConfig(use_hog=False, use_motion=False))
    found = det.detect(image)
    assert len(found) == 1 and found[0].label == "salient"
    x, y, w, h = found[0].box
    assert x < 150 < x + w and y < 60 < y + h
    assert found[0].mask is not None and found[0].mask[60, 150]


def test_make_detector_steps_down_to_coco_onnx_then_opencv_loudly(caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="semcomm_ros.codec"):
        det = make_detector(DetectorConfig(model="/nonexistent/weights.pt"))
    assert det.name == "nanodet"  # setup converted it (tools/fetch_detectors.sh)
    assert any("COCO ONNX" in r.message and "YOLO" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="semcomm_ros.codec"):
        det = make_detector(DetectorConfig(model="/nonexistent/weights.pt",
                                           onnx_dir=str(tmp_path)))  # no ONNX there
    assert det.name == "opencv"
    assert any("FALLBACK" in r.message for r in caplog.records)
    with pytest.raises(DetectorError):
        make_detector(DetectorConfig(backend="yolo", model="/nonexistent/weights.pt"))
    with pytest.raises(DetectorError):
        make_detector(DetectorConfig(backend="nanodet", onnx_dir=str(tmp_path)))


@pytest.mark.timeout(120)
def test_yolo_adapter_with_random_weights(tmp_path, vtest_frames):
    import torch

    torch.manual_seed(0)  # the random weights, and so the detections, are reproducible
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp_path))
    cfg = DetectorConfig(backend="yolo", model="yolov8n-seg.yaml", confidence=0.0,
                         image_size=320, max_objects=20)
    det = make_detector(cfg)
    assert isinstance(det, YoloDetector) and det.names[0] == "person"
    found = det.detect(vtest_frames[0])
    assert 0 < len(found) <= 20
    for d in found:
        assert d.label == det.names[d.class_id]
        x, y, w, h = d.box
        assert x + w <= 768 and y + h <= 576
        assert d.mask is None or d.mask.shape == (576, 768)
