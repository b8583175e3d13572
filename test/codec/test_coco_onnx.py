"""The pretrained COCO ONNX detectors: decoding on synthetic outputs, boxes on known pictures.

The pictures are ultralytics' ``bus.jpg`` and ``zidane.jpg`` (shipped in its wheel) and a
frame of the sample scene. Reference boxes were read off the pictures (x0, y0, x1, y1 in
pixels); a wrong channel order, mean or scale still "detects" something, so every check
matches boxes against what is in the picture, not just labels.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest

from semcomm_ros.codec.coco_onnx import (
    COCO_LABELS,
    CenterNetDetector,
    NanoDetDetector,
    decode_gfl,
    find_model,
    make_coco_detector,
    nms,
)
from semcomm_ros.codec.config import DetectorConfig
from semcomm_ros.codec.detect import DetectorError

BUS = {"bus": [(22, 231, 805, 757)],
       "person": [(48, 398, 245, 903), (669, 392, 810, 877), (221, 405, 345, 857)]}
ZIDANE_RIGHT = (747, 41, 1142, 712)  # the man on the right, whole body in frame


def _asset(name: str) -> np.ndarray:
    import ultralytics

    image = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / name))
    assert image is not None, name
    return image


def iou(a, b) -> float:
    """IoU of two corner boxes."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def corners(det) -> tuple[int, int, int, int]:
    x, y, w, h = det.box
    return x, y, x + w, y + h


def test_coco_labels_are_the_80_coco_classes():
    assert len(COCO_LABELS) == 80 and len(set(COCO_LABELS)) == 80
    assert (COCO_LABELS[0], COCO_LABELS[2], COCO_LABELS[5], COCO_LABELS[7]) == (
        "person", "car", "bus", "truck")


def test_gfl_decoding_puts_the_expected_distances_around_the_cell_centre():
    grid_w, stride, bins = 4, 8.0, 11
    scores = np.zeros((16, 80), np.float32)
    scores[6, 2] = 0.9          # cell (col 2, row 1), class car
    scores[9, 0] = 0.2          # below the threshold
    dists = np.full((16, 4 * bins), -20.0, np.float32)
    for side, k in enumerate((1, 2, 3, 4)):  # left, top, right, bottom in strides
        dists[6, side * bins + k] = 20.0     # a (near) one-hot distribution
    boxes, conf, cls = decode_gfl(scores, dists, stride, grid_w, threshold=0.3)
    assert cls.tolist() == [2] and conf.tolist() == pytest.approx([0.9])
    cx, cy = (2 + 0.5) * stride, (1 + 0.5) * stride
    assert boxes[0] == pytest.approx([cx - 8, cy - 16, cx + 24, cy + 32], abs=1e-3)
    # A two-bin distribution decodes to its expectation (sub-bin precision).
    dists[6, :bins] = -20.0
    dists[6, 1], dists[6, 2] = 0.0, 0.0
    boxes, _, _ = decode_gfl(scores, dists, stride, grid_w, threshold=0.3)
    assert boxes[0][0] == pytest.approx(cx - 1.5 * stride, abs=1e-3)


def test_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 2])
    keep = nms(boxes, scores, classes, 0.1, 0.5)
    assert keep.tolist() == [0, 2]  # the second person box goes, the car stays


def test_missing_and_corrupt_models_are_clear_errors(tmp_path):
    with pytest.raises(DetectorError, match="fetch_detectors"):
        find_model("nanodet", str(tmp_path))
    with pytest.raises(DetectorError, match="unknown"):
        find_model("yolo", str(tmp_path))
    (tmp_path / "nanodet.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(DetectorError, match="cannot load"):
        NanoDetDetector(DetectorConfig(onnx_dir=str(tmp_path)))


@pytest.mark.parametrize("model", ["nanodet", "centernet"])
def test_bus_and_people_are_found_where_they_are(model):
    det = make_coco_detector(DetectorConfig(confidence=0.4), model)
    found = det.detect(_asset("bus.jpg"))
    assert all(d.label == COCO_LABELS[d.class_id] for d in found)
    for label, refs in BUS.items():
        boxes = [corners(d) for d in found if d.label == label]
        for ref in refs:
            best = max((iou(ref, b) for b in boxes), default=0.0)
            assert best >= 0.6, f"{model}: no {label} box at {ref} (best IoU {best:.2f})"


@pytest.mark.parametrize("model", ["nanodet", "centernet"])
def test_zidane_is_a_person_at_the_right_place(model):
    det = make_coco_detector(DetectorConfig(confidence=0.3), model)
    people = [corners(d) for d in det.detect(_asset("zidane.jpg")) if d.label == "person"]
    assert max((iou(ZIDANE_RIGHT, b) for b in people), default=0.0) >= 0.6


def test_the_sample_scene_has_people_and_the_parked_vehicles(opencv_data):
    cap = cv2.VideoCapture(str(opencv_data / "vtest.avi"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = cap.read()
    cap.release()
    assert ok
    found = NanoDetDetector(DetectorConfig(confidence=0.4)).detect(frame)
    people = [d for d in found if d.label == "person"]
    assert len(people) >= 5
    for d in people:  # upright pedestrians, not blobs
        assert d.box[3] > d.box[2]
    vehicles = [d for d in found if d.label in ("car", "truck", "bus")]
    # The van and the car are parked at the top right of the 768x576 frame.
    assert vehicles and all(d.box[0] > 500 and d.box[1] < 150 for d in vehicles)


def test_centernet_rejects_a_graph_of_the_wrong_shape(tmp_path):
    (tmp_path / "centernet.onnx").write_bytes(find_model("nanodet").read_bytes())
    with pytest.raises(DetectorError, match="input"):
        CenterNetDetector(DetectorConfig(onnx_dir=str(tmp_path)))
