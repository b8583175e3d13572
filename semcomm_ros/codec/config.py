"""Configuration of the semantic codec: one dataclass tree, ROS-parameter friendly.

Every field is a bool, int, float, str or list of those, so that
``semcomm_ros.config`` can map the tree to ROS parameters (``codec.weights.
class_priorities`` etc.). Class priorities are a list of ``"label=value"``
strings so that an operator can change them at run time with ``ros2 param set``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from semcomm_ros.config import ConfigError, describe

BACKENDS = ("auto", "yolo", "nanodet", "centernet", "opencv")
COCO_MODELS = ("nanodet", "centernet")
CODERS = ("auto", "region", "video")
IMAGE_CODECS = ("webp", "jpeg")


@dataclass
class DetectorConfig:
    """Which detector runs, and how."""

    backend: str = field(default="auto", metadata=describe(
        "auto: YOLO when its weights load, else the pretrained COCO ONNX detector "
        "(coco_model), else the OpenCV fallback; or one of yolo, nanodet, centernet, opencv"))
    model: str = field(default="yolov8n-seg.pt", metadata=describe(
        "ultralytics model: a local .pt path, a .yaml (random weights) or a model name"))
    allow_download: bool = field(default=False, metadata=describe(
        "let ultralytics fetch a named model that is not on disk (needs network)"))
    device: str = field(default="cpu", metadata=describe("torch device: cpu, cuda, cuda:0"))
    confidence: float = field(default=0.4, metadata=describe(
        "minimum detector confidence kept (docs/benchmarks/detect.md has the sweep)"))
    max_objects: int = field(default=16, metadata=describe("keep at most this many objects"))
    image_size: int = field(default=640, metadata=describe("YOLO inference size (pixels)"))
    coco_model: str = field(default="nanodet", metadata=describe(
        "pretrained COCO-80 ONNX detector used by auto when YOLO is unavailable: nanodet "
        "(416 px input) or centernet (512 px); input size is the model's own"))
    onnx_dir: str = field(default="", metadata=describe(
        "folder holding nanodet.onnx / centernet.onnx; empty: $SEMCOMM_DETECTORS, the clone's "
        "data/detectors, then /var/cache/semcomm/detectors (tools/fetch_detectors.sh)"))
    nms_iou: float = field(default=0.6, metadata=describe(
        "ONNX detectors: IoU above which a lower-scored box of the same class is suppressed"))
    threads: int = field(default=1, metadata=describe(
        "ONNX detectors: onnxruntime intra-op threads (0: onnxruntime's default); one leaves "
        "the other core of a small robot computer to the texture coder"))
    every_n_frames: int = field(default=1, metadata=describe(
        "run the detector every n frames, reuse its result in between"))
    pipelined: bool = field(default=True, metadata=describe(
        "auto coder: run the detector in a second thread while the texture is coded, "
        "weighted by the previous frame's detections (the weight map's soft edges cover a "
        "frame of motion); the objects sent are the current frame's. Encode time becomes "
        "max(detector, texture) instead of their sum on two or more cores"))
    use_hog: bool = field(default=True, metadata=describe("fallback: HOG people detector"))
    use_faces: bool = field(default=False, metadata=describe("fallback: Haar frontal faces"))
    use_motion: bool = field(default=True, metadata=describe(
        "fallback: moving regions (static camera) as generic objects"))
    use_saliency: bool = field(default=True, metadata=describe(
        "fallback: spectral-residual salient region when nothing else is found"))
    hog_width: int = field(default=400, metadata=describe(
        "fallback: image width the HOG detector runs at (smaller is faster)"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        if self.backend not in BACKENDS:
            raise ConfigError(f"detector.backend must be one of {BACKENDS}, not {self.backend!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ConfigError("detector.confidence must be in [0, 1]")
        if self.max_objects < 0 or self.max_objects > 255:
            raise ConfigError("detector.max_objects must be in [0, 255]")
        if self.coco_model not in COCO_MODELS:
            raise ConfigError(f"detector.coco_model must be one of {COCO_MODELS}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError("detector.nms_iou must be in (0, 1]")
        if not 0 <= self.threads <= 64:
            raise ConfigError("detector.threads must be in [0, 64]")
        if self.every_n_frames < 1:
            raise ConfigError("detector.every_n_frames must be >= 1")
        if self.hog_width < 64:
            raise ConfigError("detector.hog_width must be >= 64")


@dataclass
class WeightConfig:
    """How the significance (weight) map is built."""

    class_priorities: list[str] = field(
        default_factory=lambda: ["person=1.0", "bicycle=0.9", "motorcycle=0.9", "car=0.8",
                                 "truck=0.8", "bus=0.8", "dog=0.8", "cat=0.7", "face=1.0",
                                 "motion=0.7", "salient=0.5", "*=0.4"],
        metadata=describe('class priorities as "label=value" (value in [0,1]); "*" = others'))
    background: float = field(default=0.1, metadata=describe(
        "background floor of the weight map, [0, 1]"))
    confidence_power: float = field(default=0.5, metadata=describe(
        "weight *= confidence ** power (0 ignores confidence)"))
    small_object_boost: float = field(default=0.2, metadata=describe(
        "extra weight for small objects (less than 1% of the frame), [0, 1]"))
    edge_softness: float = field(default=0.04, metadata=describe(
        "soft-edge radius as a fraction of the image diagonal"))
    roi: list[float] = field(default_factory=list, metadata=describe(
        "operator region of interest [x, y, width, height] in [0,1] image fractions, or []"))
    roi_weight: float = field(default=0.9, metadata=describe("weight inside the ROI"))
    map_cell: int = field(default=32, metadata=describe(
        "source pixels per cell of the transmitted weight map"))
    key_threshold: float = field(default=0.6, metadata=describe(
        "objects at or above this weight are key objects (level OBJECTS)"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values (priorities are parsed here)."""
        from semcomm_ros.codec.weights import parse_priorities

        parse_priorities(self.class_priorities)
        for name in ("background", "small_object_boost", "roi_weight", "key_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"weights.{name} must be in [0, 1]")
        if self.roi and (len(self.roi) != 4 or min(self.roi) < 0 or max(self.roi) > 1):
            raise ConfigError("weights.roi must be [] or four fractions in [0, 1]")
        if not 4 <= self.map_cell <= 128:
            raise ConfigError("weights.map_cell must be in [4, 128]")
        if self.edge_softness < 0 or self.confidence_power < 0:
            raise ConfigError("weights.edge_softness and confidence_power must be >= 0")


@dataclass
class TextureConfig:
    """The texture layer: which coder, and its image-codec knobs."""

    coder: str = field(default="auto", metadata=describe(
        "auto: every frame the best of skip / whole-frame still / H.264 P-frame against what "
        "the decoder holds (rate-distortion on the weight map); region: objects and "
        "background coded apart (image codecs); video: libx264 stream"))
    image_codec: str = field(default="webp", metadata=describe(
        "still-image codec of the region coder and of the auto coder's still: webp, jpeg"))
    background_scale: float = field(default=1.0, metadata=describe(
        "largest background resolution, as a fraction of the source size"))
    min_background_scale: float = field(default=0.0625, metadata=describe(
        "smallest background resolution tried before dropping the background"))
    background_share: float = field(default=0.35, metadata=describe(
        "share of the texture budget the background may take when objects are present"))
    background_max_age: int = field(default=10, metadata=describe(
        "resend the background at least every n frames"))
    background_change: float = field(default=6.0, metadata=describe(
        "resend the background when its mean absolute change exceeds this (0-255)"))
    object_max_quality: int = field(default=90, metadata=describe(
        "highest image quality for object textures"))
    min_quality: int = field(default=5, metadata=describe("lowest image quality tried"))
    object_padding: float = field(default=0.06, metadata=describe(
        "object crop padding, as a fraction of the box size"))
    mask_cells: int = field(default=24, metadata=describe(
        "object mask resolution (cells along the longer box side)"))
    gist_width: int = field(default=32, metadata=describe("gist thumbnail width (0: no gist)"))
    gist_quality: int = field(default=30, metadata=describe("gist thumbnail quality"))
    video_gop: int = field(default=10, metadata=describe(
        "video coder: frames between recovery points (intra refresh period)"))
    video_intra_refresh: bool = field(default=True, metadata=describe(
        "video coder: periodic intra refresh instead of key frames"))
    video_steering: str = field(default="roi", metadata=describe(
        "video coder: weight-map steering: roi (x264 quantiser offsets), prefilter or none"))
    video_roi_strength: float = field(default=10.0, metadata=describe(
        "video coder, roi steering: QP steps taken from key objects (half given to background)"))
    reference_frames: int = field(default=8, metadata=describe(
        "auto coder: decoded pictures (canvases) both ends keep as references"))
    refresh_period: int = field(default=30, metadata=describe(
        "auto coder without receiver feedback: an intra (still) frame every n frames"))
    feedback_timeout: int = field(default=20, metadata=describe(
        "auto coder: frames without any FrameReport after which the link counts as one-way "
        "(periodic refresh)"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        if not 1 <= self.reference_frames <= 64:
            raise ConfigError("texture.reference_frames must be in [1, 64]")
        if self.refresh_period < 1 or self.feedback_timeout < 1:
            raise ConfigError("texture: refresh_period and feedback_timeout must be >= 1")
        if self.coder not in CODERS:
            raise ConfigError(f"texture.coder must be one of {CODERS}, not {self.coder!r}")
        if self.image_codec not in IMAGE_CODECS:
            raise ConfigError(f"texture.image_codec must be one of {IMAGE_CODECS}")
        if not 0.0 < self.min_background_scale <= self.background_scale <= 1.0:
            raise ConfigError("texture: need 0 < min_background_scale <= background_scale <= 1")
        if not 0.0 <= self.background_share <= 1.0:
            raise ConfigError("texture.background_share must be in [0, 1]")
        if not 1 <= self.min_quality <= self.object_max_quality <= 100:
            raise ConfigError("texture: need 1 <= min_quality <= object_max_quality <= 100")
        if not 2 <= self.mask_cells <= 128:
            raise ConfigError("texture.mask_cells must be in [2, 128]")
        if not 0 <= self.gist_width <= 128 or not 1 <= self.gist_quality <= 100:
            raise ConfigError("texture: gist_width in [0, 128], gist_quality in [1, 100]")
        if self.background_max_age < 1 or self.video_gop < 1:
            raise ConfigError("texture: background_max_age and video_gop must be >= 1")
        if self.video_steering not in ("roi", "prefilter", "none"):
            raise ConfigError("texture.video_steering must be roi, prefilter or none")
        if not 0.0 <= self.video_roi_strength <= 51.0:
            raise ConfigError("texture.video_roi_strength must be in [0, 51] QP steps")


@dataclass
class RateConfig:
    """Rate control."""

    default_budget: int = field(default=6000, metadata=describe(
        "bytes per frame when the caller gives no budget"))
    frame_rate: float = field(default=10.0, metadata=describe(
        "frames per second (video coder bitrate = budget * 8 * frame_rate)"))
    safety: float = field(default=0.97, metadata=describe(
        "video coder: target this fraction of the budget"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        if self.default_budget < 0 or self.frame_rate <= 0 or not 0.1 <= self.safety <= 1.0:
            raise ConfigError("rate: default_budget >= 0, frame_rate > 0, safety in [0.1, 1]")


@dataclass
class LimitsConfig:
    """Bounds every parser checks before allocating."""

    max_dimension: int = field(default=8192, metadata=describe("largest source side, pixels"))
    max_objects: int = field(default=255, metadata=describe("most objects in one frame"))
    max_frame_bytes: int = field(default=16_000_000, metadata=describe(
        "largest packed frame, bytes"))
    max_blob_bytes: int = field(default=8_000_000, metadata=describe(
        "largest single texture/mask/gist blob, bytes"))
    max_label_chars: int = field(default=64, metadata=describe("longest class label, bytes"))
    max_mask_cells: int = field(default=256, metadata=describe("largest mask side, cells"))
    max_weight_map_side: int = field(default=1024, metadata=describe(
        "largest weight-map side, cells"))
    max_ref_distance: int = field(default=255, metadata=describe(
        "farthest reference a frame may name, in frames back"))
    max_texture_parts: int = field(default=16, metadata=describe(
        "most frames one still may be split over (thin links)"))
    max_pixels: int = field(default=8_388_608, metadata=describe(
        "most pixels in one decoded picture: the source and every layer (default 2^23, a "
        "3840x2160 camera fits); bounds the decoder's memory per frame"))
    max_work_pixels: int = field(default=33_554_432, metadata=describe(
        "most pixels the decoder touches for one frame: source + object boxes + textures "
        "(bounds decode time: about 0.3 s on a small CPU at the default)"))
    max_frame_id_chars: int = field(default=256, metadata=describe(
        "longest header.frame_id accepted, UTF-8 bytes (printable characters only)"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        for name in ("max_dimension", "max_objects", "max_frame_bytes", "max_blob_bytes",
                     "max_label_chars", "max_mask_cells", "max_weight_map_side",
                     "max_ref_distance", "max_texture_parts", "max_pixels", "max_work_pixels",
                     "max_frame_id_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"limits.{name} must be >= 1")
        if self.max_dimension > 65535 or self.max_objects > 65535:
            raise ConfigError("limits: max_dimension and max_objects must fit 16 bits")


@dataclass
class CodecConfig:
    """The whole codec: detector, weight map, texture layer, rate control, limits."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    weights: WeightConfig = field(default_factory=WeightConfig)
    texture: TextureConfig = field(default_factory=TextureConfig)
    rate: RateConfig = field(default_factory=RateConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    def validate(self) -> None:
        """Validate every section."""
        for section in (self.detector, self.weights, self.texture, self.rate, self.limits):
            section.validate()
