"""Object detection behind one interface: ultralytics YOLO-seg, COCO ONNX models, OpenCV.

A detector maps a BGR image to a list of :class:`Detection` (class id, label,
confidence, box, full-size boolean mask). :func:`make_detector` picks YOLO when
its weights load, else a pretrained COCO-80 detector run by onnxruntime
(NanoDet or CenterNet, ``semcomm_ros/codec/coco_onnx.py``), else the OpenCV
fallback (HOG people, optional Haar faces, moving regions on a static camera, a
spectral-residual salient region), logging one loud warning at each step down.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from semcomm_ros.codec.config import DetectorConfig

log = logging.getLogger("semcomm_ros.codec.detect")

FALLBACK_LABELS = ("person", "face", "motion", "salient")


class DetectorError(RuntimeError):
    """A detector backend cannot be built or run."""


@dataclass
class Detection:
    """One detected instance at source resolution."""

    class_id: int
    label: str
    confidence: float
    box: tuple[int, int, int, int]  # x, y, width, height (pixels)
    mask: np.ndarray | None = None  # bool HxW at source size; None: the whole box

    def full_mask(self, height: int, width: int) -> np.ndarray:
        """Boolean HxW mask of the instance (the box when no mask was given)."""
        if self.mask is not None:
            return self.mask
        out = np.zeros((height, width), bool)
        x, y, w, h = self.box
        out[y:y + h, x:x + w] = True
        return out


class Detector:
    """Interface: ``detect(image_bgr) -> list[Detection]``; ``name`` says which backend."""

    name = "base"

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detect objects in a BGR uint8 image."""
        raise NotImplementedError


def clip_box(x0: float, y0: float, x1: float, y1: float, width: int,
             height: int) -> tuple[int, int, int, int] | None:
    """Corner box -> integer (x, y, w, h) inside the image, or None when empty."""
    xa, ya = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    xb, yb = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if xb - xa < 2 or yb - ya < 2:
        return None
    return xa, ya, xb - xa, yb - ya


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def merge_near(boxes: list[tuple[int, int, int, int]], gap: int) -> list[tuple[int, int, int, int]]:
    """Merge (x, y, w, h) boxes that overlap or lie within ``gap`` pixels of each other."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if (a[0] - gap <= b[0] + b[2] and b[0] - gap <= a[0] + a[2]
                        and a[1] - gap <= b[1] + b[3] and b[1] - gap <= a[1] + a[3]):
                    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
                    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
                    boxes[i] = (x0, y0, x1 - x0, y1 - y0)
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def suppress(dets: list[Detection], iou: float = 0.5) -> list[Detection]:
    """Greedy non-maximum suppression across classes (highest confidence wins)."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.confidence):
        if all(_iou(d.box, k.box) < iou for k in kept):
            kept.append(d)
    return kept


def spectral_residual(gray: np.ndarray, size: int = 64) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) of a grey image, float in [0, 1]."""
    small = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    spec = np.fft.fft2(small)
    log_amp = np.log(np.abs(spec) + 1e-6)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spec)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    sal -= sal.min()
    peak = sal.max()
    return sal / peak if peak > 0 else sal


class OpenCVDetector(Detector):
    """Offline fallback from what OpenCV 4.x ships: HOG people, Haar faces, motion, saliency."""

    name = "opencv"

    def __init__(self, cfg: DetectorConfig):
        """Build the enabled OpenCV detectors (no files are downloaded)."""
        self.cfg = cfg
        self._hog = None
        if cfg.use_hog:
            if not hasattr(cv2, "HOGDescriptor"):
                raise DetectorError("this OpenCV build has no HOGDescriptor (need OpenCV 4.x)")
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self._faces = None
        if cfg.use_faces:
            path = Path(getattr(cv2, "data", None).haarcascades if hasattr(cv2, "data") else "")
            cascade = cv2.CascadeClassifier(str(path / "haarcascade_frontalface_default.xml"))
            if cascade.empty():
                raise DetectorError("Haar face cascade not found in cv2.data (need OpenCV 4.x)")
            self._faces = cascade
        self._prev: np.ndarray | None = None

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Run the enabled detectors and merge their instances."""
        height, width = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        dets: list[Detection] = []
        if self._hog is not None:
            dets += self._detect_people(gray)
        if self._faces is not None:
            dets += self._detect_faces(gray)
        if self.cfg.use_motion:
            dets += self._detect_motion(gray, dets)
        if self.cfg.use_saliency and not dets:
            dets += self._detect_salient(gray)
        dets = [d for d in suppress(dets) if d.confidence >= self.cfg.confidence]
        return dets[: self.cfg.max_objects]

    def _detect_people(self, gray: np.ndarray) -> list[Detection]:
        height, width = gray.shape
        scale = min(1.0, self.cfg.hog_width / width)
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rects, scores = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8),
                                                   scale=1.08)
        out = []
        for (x, y, w, h), s in zip(rects, np.ravel(scores) if len(rects) else []):
            # HOG boxes are loose: shrink them a little around the body.
            box = clip_box((x + 0.12 * w) / scale, (y + 0.05 * h) / scale,
                           (x + 0.88 * w) / scale, (y + 0.95 * h) / scale, width, height)
            conf = float(1.0 / (1.0 + np.exp(-2.0 * float(s))))  # SVM margin -> (0, 1)
            if box:
                out.append(Detection(0, "person", conf, box))
        return out

    def _detect_faces(self, gray: np.ndarray) -> list[Detection]:
        height, width = gray.shape
        rects = self._faces.detectMultiScale(gray, scaleFactor=1.2, minNeighbors=5,
                                             minSize=(24, 24))
        return [Detection(1, "face", 0.8, box) for x, y, w, h in rects
                if (box := clip_box(x, y, x + w, y + h, width, height))]

    def _detect_motion(self, gray: np.ndarray, found: list[Detection]) -> list[Detection]:
        height, width = gray.shape
        scale = 160.0 / width
        small = cv2.GaussianBlur(cv2.resize(gray, None, fx=scale, fy=scale,
                                            interpolation=cv2.INTER_AREA), (5, 5), 0)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return []
        moving = (cv2.absdiff(small, prev) > 18).astype(np.uint8)
        if moving.mean() > 0.25:  # camera motion: frame differencing says nothing
            return []
        moving = cv2.dilate(moving, np.ones((5, 5), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(moving)
        regions = merge_near([tuple(int(v) for v in stats[i][:4]) for i in range(1, count)
                              if stats[i][4] >= 20], gap=10)
        out = []
        for x, y, w, h in regions:
            box = clip_box(x / scale, y / scale, (x + w) / scale, (y + h) / scale, width, height)
            if box and all(_iou(box, d.box) < 0.3 for d in found):
                out.append(Detection(2, "motion", float(min(0.9, 0.4 + w * h / 400.0)), box))
        return out

    def _detect_salient(self, gray: np.ndarray) -> list[Detection]:
        height, width = gray.shape
        sal = spectral_residual(gray)
        thresh = (sal > max(0.25, 3.0 * float(sal.mean()))).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(thresh)
        if count < 2:
            return []
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h, _ = stats[best]
        sx, sy = width / sal.shape[1], height / sal.shape[0]
        box = clip_box(x * sx, y * sy, (x + w) * sx, (y + h) * sy, width, height)
        if box is None:
            return []
        mask = cv2.resize((labels == best).astype(np.uint8), (width, height),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
        return [Detection(3, "salient", float(np.clip(sal[labels == best].mean(), 0.3, 1.0)),
                          box, mask)]


def _prepare_ultralytics_offline() -> None:
    """Settings that keep ultralytics from reaching the network (set before import)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if "YOLO_CONFIG_DIR" not in os.environ:
        os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="semcomm-yolo-")


def _coco_names() -> dict[int, str]:
    """The 80 COCO class names, from the dataset YAML that ultralytics ships."""
    import ultralytics
    import yaml

    path = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml"
    return {int(k): str(v) for k, v in yaml.safe_load(path.read_text())["names"].items()}


class YoloDetector(Detector):
    """ultralytics YOLO segmentation (or detection) model: class names from the model."""

    name = "yolo"

    def __init__(self, cfg: DetectorConfig):
        """Load ``cfg.model``; raises DetectorError when it cannot be had offline."""
        self.cfg = cfg
        model = cfg.model
        local = Path(model).expanduser()
        if not (local.is_file() or model.endswith((".yaml", ".yml")) or cfg.allow_download):
            raise DetectorError(f"YOLO weights {model!r} are not on disk and "
                                "detector.allow_download is false")
        _prepare_ultralytics_offline()
        try:
            from ultralytics import YOLO
            from ultralytics.utils import SETTINGS

            SETTINGS.update({"sync": False})
            self.model = YOLO(str(local) if local.is_file() else model)
            self.names = {int(k): str(v) for k, v in dict(self.model.names).items()}
            if all(v == str(k) for k, v in self.names.items()) and len(self.names) == 80:
                self.names = _coco_names()  # a model built from YAML has numbers, not names
        except Exception as exc:  # noqa: BLE001 - any load failure means "fall back"
            raise DetectorError(f"cannot load YOLO model {model!r}: {exc}") from exc

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Run the model once; masks come back at source resolution (retina masks)."""
        height, width = image.shape[:2]
        res = self.model.predict(image, conf=self.cfg.confidence, imgsz=self.cfg.image_size,
                                 device=self.cfg.device, retina_masks=True, verbose=False,
                                 max_det=max(1, self.cfg.max_objects))[0]
        if res.boxes is None or len(res.boxes) == 0:
            return []
        xyxy = res.boxes.xyxy.cpu().numpy()
        cls = res.boxes.cls.cpu().numpy().astype(int)
        conf = res.boxes.conf.cpu().numpy()
        masks = None
        if res.masks is not None:
            masks = res.masks.data.cpu().numpy() > 0.5
        out = []
        for i in range(len(xyxy)):
            box = clip_box(*xyxy[i], width, height)
            if box is None:
                continue
            mask = None
            if masks is not None and masks[i].shape == (height, width) and masks[i].any():
                mask = masks[i]
            out.append(Detection(int(cls[i]), str(self.names.get(int(cls[i]), cls[i])),
                                 float(conf[i]), box, mask))
        return out[: self.cfg.max_objects]


def make_detector(cfg: DetectorConfig) -> Detector:
    """The configured detector; ``auto`` steps down YOLO -> COCO ONNX -> OpenCV, loudly.

    ``auto`` tries ultralytics YOLO (when its weights load), then the pretrained
    COCO-80 ONNX detector ``cfg.coco_model`` (NanoDet or CenterNet, converted at
    setup), then the OpenCV fallback. Each step down is one WARNING on the
    ``semcomm_ros.codec.detect`` logger (the nodes forward it to /rosout). A
    backend named explicitly raises DetectorError when it cannot be built.
    """
    from semcomm_ros.codec.coco_onnx import make_coco_detector

    if cfg.backend == "yolo":
        return YoloDetector(cfg)
    if cfg.backend in ("nanodet", "centernet"):
        return make_coco_detector(cfg, cfg.backend)
    if cfg.backend == "opencv":
        return OpenCVDetector(cfg)
    try:
        return YoloDetector(cfg)
    except DetectorError as exc:
        yolo_error = exc
    try:
        detector = make_coco_detector(cfg)
    except DetectorError as exc:
        log.warning("YOLO detector unavailable (%s) and COCO ONNX detector %r unavailable (%s); "
                    "USING THE OPENCV FALLBACK DETECTOR (HOG people, motion, saliency): "
                    "detection quality is far lower", yolo_error, cfg.coco_model, exc)
        return OpenCVDetector(cfg)
    log.warning("YOLO detector unavailable (%s); using the pretrained COCO ONNX detector %s "
                "(%s)", yolo_error, detector.name, detector.path)
    return detector
