"""Configuration schema of the four nodes (one section each in config/semcomm.yaml).

ROS-free, so the CLI, the launch-file tests and the benchmarks read the very
schema the nodes declare as ROS parameters (semcomm_ros/nodes/params.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from semcomm_ros.codec import CodecConfig
from semcomm_ros.config import (
    DECODER_NODE,
    ENCODER_NODE,
    LINK_MONITOR_NODE,
    RECORDER_NODE,
    SOURCE_NODE,
    ConfigError,
    describe,
    load_node_config,
)
from semcomm_ros.link import LinkConfig
from semcomm_ros.link.budget import BudgetConfig
from semcomm_ros.reconstruction import ReconstructionConfig

RELIABILITIES = ("best_effort", "reliable")
CAMERA_TRANSPORTS = ("raw", "compressed")


@dataclass
class QosConfig:
    """QoS of image-carrying and control topics."""

    camera_reliability: str = field(default="best_effort", metadata=describe(
        "Raw camera topic (local to the robot): best_effort or reliable, to match the driver"))
    image_reliability: str = field(default="best_effort", metadata=describe(
        "Semantics and rebuilt-image topics: best_effort (stale frames are worthless) or "
        "reliable"))
    image_depth: int = field(default=1, metadata=describe(
        "History depth of image/semantics topics (keep last N)"))
    control_reliability: str = field(default="reliable", metadata=describe(
        "LinkState / FrameReport topics: reliable or best_effort"))
    control_depth: int = field(default=10, metadata=describe(
        "History depth of control topics"))
    semantics_lifespan_ms: float = field(default=1000.0, metadata=describe(
        "Lifespan of WeightedSemantics samples, ms (0: infinite): an older frame is never "
        "delivered or resent. DDS compares the writer's source timestamp with the reader's "
        "clock, so robot and base clocks must agree to well within it (NTP/chrony)"))

    def validate(self) -> None:
        """Raise ConfigError on unknown reliability or bad depth."""
        for name in ("camera_reliability", "image_reliability", "control_reliability"):
            if getattr(self, name) not in RELIABILITIES:
                raise ConfigError(f"qos.{name} must be one of {RELIABILITIES}")
        if self.image_depth < 1 or self.control_depth < 1:
            raise ConfigError("qos depths must be >= 1")
        if self.semantics_lifespan_ms < 0:
            raise ConfigError("qos.semantics_lifespan_ms must be >= 0")


@dataclass
class TopicsConfig:
    """Topic names shared by all nodes."""

    camera: str = field(default="/camera/image_raw", metadata=describe(
        "Camera images on the robot: sensor_msgs/Image here, or CompressedImage on "
        "<camera>/compressed when camera_transport is compressed (image_transport's naming)"))
    camera_transport: str = field(default="raw", metadata=describe(
        "raw (sensor_msgs/Image) or compressed (sensor_msgs/CompressedImage, JPEG/PNG)"))
    camera_info: str = field(default="/camera/camera_info", metadata=describe(
        "CameraInfo of the camera on the robot (empty: none); forwarded to the base station "
        "when it changes, not per frame"))
    link_camera_info: str = field(default="/semcomm/link/camera_info", metadata=describe(
        "CameraInfo robot -> base station: reliable, transient local, sent on change only"))
    reconstruction_camera_info: str = field(default="/semcomm/camera_info", metadata=describe(
        "CameraInfo republished beside every reconstruction, same stamp and frame "
        "(image_transport's <namespace>/camera_info; empty: not published)"))
    semantics: str = field(default="/semcomm/semantics", metadata=describe(
        "WeightedSemantics frames, robot -> base station"))
    reconstruction: str = field(default="/semcomm/reconstruction", metadata=describe(
        "Rebuilt images at the base station (sensor_msgs/Image), for teleoperation"))
    composite: str = field(default="/semcomm/composite", metadata=describe(
        "Composition-only image before diffusion (empty: not published)"))
    weight_map: str = field(default="/semcomm/weight_map", metadata=describe(
        "Weight-map overlay image for rviz (empty: not published)"))
    link_state: str = field(default="/semcomm/link_state", metadata=describe(
        "LinkState, base station -> robot"))
    frame_report: str = field(default="/semcomm/frame_report", metadata=describe(
        "FrameReport, decoder -> link monitor"))
    detections: str = field(default="/semcomm/detections", metadata=describe(
        "visualization_msgs/MarkerArray of the received objects for rviz (empty: none)"))
    diagnostics: str = field(default="/diagnostics", metadata=describe(
        "diagnostic_msgs/DiagnosticArray of node and link health (empty: none)"))

    def validate(self) -> None:
        """Raise ConfigError on an unknown camera transport or an empty required topic."""
        if self.camera_transport not in CAMERA_TRANSPORTS:
            raise ConfigError(f"topics.camera_transport must be one of {CAMERA_TRANSPORTS}")
        for name in ("camera", "semantics", "reconstruction", "link_state", "frame_report",
                     "link_camera_info"):
            if not getattr(self, name):
                raise ConfigError(f"topics.{name} must not be empty")


@dataclass
class SourceNodeConfig:
    """Plays a bag, a video file or an image folder as a camera."""

    source: str = field(default="data/sample/vtest_10hz", metadata=describe(
        "Bag folder, video file or image folder (relative paths: to the working directory)"))
    bag_topic: str = field(default="", metadata=describe(
        "Image topic to read from a bag (empty: first sensor_msgs/Image topic)"))
    rate_hz: float = field(default=10.0, metadata=describe("Publishing rate, frames/s"))
    start_index: int = field(default=0, metadata=describe("First frame of the source to play"))
    max_frames: int = field(default=0, metadata=describe("Frames to play (0: all)"))
    loop: bool = field(default=False, metadata=describe("Start over at the end"))
    frame_id: str = field(default="camera", metadata=describe("header.frame_id of the images"))
    width: int = field(default=0, metadata=describe("Resize to this width (0: keep)"))
    height: int = field(default=0, metadata=describe("Resize to this height (0: keep)"))
    wait_for_subscribers: int = field(default=0, metadata=describe(
        "Hold the first frame until this many subscribers are matched on the camera topic "
        "(like `ros2 bag play --wait-for-all-acked`: best-effort frames sent before DDS "
        "discovery completes are lost); 0: start at once"))
    wait_timeout_s: float = field(default=30.0, metadata=describe(
        "Start anyway after waiting this long for subscribers, with a warning"))
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        if self.rate_hz <= 0 or self.max_frames < 0 or self.start_index < 0:
            raise ConfigError("source: rate_hz > 0, max_frames >= 0, start_index >= 0")
        if self.wait_for_subscribers < 0 or self.wait_timeout_s < 0:
            raise ConfigError("source: wait_for_subscribers >= 0, wait_timeout_s >= 0")


@dataclass
class EncoderNodeConfig:
    """Robot side: Image -> WeightedSemantics within the link's byte budget."""

    default_budget_bytes: int = field(default=6000, metadata=describe(
        "Per-frame byte budget used until (or without) LinkState"))
    use_link_state: bool = field(default=True, metadata=describe(
        "Follow LinkState: budget = its target rate (estimated_throughput_bps) x "
        "budget.headroom / the measured camera rate; false: default_budget_bytes always"))
    max_budget_bytes: int = field(default=200_000, metadata=describe(
        "Upper bound on any budget, whatever LinkState says"))
    diagnostics_period_s: float = field(default=1.0, metadata=describe(
        "Seconds between DiagnosticArray messages"))
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        self.budget.validate()
        if not 0 < self.default_budget_bytes <= self.max_budget_bytes:
            raise ConfigError("encoder: need 0 < default_budget_bytes <= max_budget_bytes")
        if self.diagnostics_period_s <= 0:
            raise ConfigError("encoder: diagnostics_period_s must be > 0")


@dataclass
class LinkMonitorNodeConfig:
    """Base station: FrameReport -> LinkState."""

    publish_rate_hz: float = field(default=10.0, metadata=describe(
        "How often LinkState is published, Hz (the rate controller's update rate: about the "
        "camera rate keeps the feedback loop short)"))
    diagnostics_period_s: float = field(default=1.0, metadata=describe(
        "Seconds between DiagnosticArray messages"))
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    link: LinkConfig = field(default_factory=LinkConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        if self.publish_rate_hz <= 0 or self.diagnostics_period_s <= 0:
            raise ConfigError("link monitor: publish_rate_hz and diagnostics_period_s must be > 0")


@dataclass
class DecoderNodeConfig:
    """Base station: WeightedSemantics -> Image (+ FrameReport)."""

    compressed_output: bool = field(default=False, metadata=describe(
        "Also publish the reconstruction as sensor_msgs/CompressedImage (JPEG) on "
        "<reconstruction>/compressed, for image_transport users"))
    compressed_quality: int = field(default=85, metadata=describe(
        "JPEG quality of the compressed reconstruction, 1-100"))
    marker_scale: float = field(default=0.001, metadata=describe(
        "Detection markers without CameraInfo: metres per image pixel on the plane "
        "z = marker_depth of the image's frame (docs/architecture.md, rviz)"))
    marker_depth: float = field(default=1.0, metadata=describe(
        "Detection markers: distance of the image plane from the camera, metres"))
    diagnostics_period_s: float = field(default=1.0, metadata=describe(
        "Seconds between DiagnosticArray messages"))
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    reconstruction: ReconstructionConfig = field(default_factory=ReconstructionConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        if not 1 <= self.compressed_quality <= 100:
            raise ConfigError("decoder: compressed_quality must be in [1, 100]")
        if self.marker_scale <= 0 or self.marker_depth <= 0 or self.diagnostics_period_s <= 0:
            raise ConfigError("decoder: marker_scale, marker_depth and diagnostics_period_s "
                              "must be > 0")


#: what the recorder can record: TopicsConfig field -> message type
RECORDABLE = {
    "reconstruction": "sensor_msgs/msg/Image",
    "weight_map": "sensor_msgs/msg/Image",
    "composite": "sensor_msgs/msg/Image",
    "detections": "visualization_msgs/msg/MarkerArray",
    "link_state": "semcomm_ros/msg/LinkState",
    "frame_report": "semcomm_ros/msg/FrameReport",
    "semantics": "semcomm_ros/msg/WeightedSemantics",
    "reconstruction_camera_info": "sensor_msgs/msg/CameraInfo",
    "diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
    "camera": "sensor_msgs/msg/Image",
}


@dataclass
class RecorderNodeConfig:
    """Records the system's outputs into a rosbag2 MCAP bag (``semcomm run --record DIR``)."""

    path: str = field(default="", metadata=describe(
        "Bag folder to create (must not exist; empty: a time-stamped folder under out/record)"))
    record: list[str] = field(default_factory=lambda: [
        "reconstruction", "weight_map", "detections", "link_state", "frame_report",
        "semantics"], metadata=describe(
        "Topics to record, by their name under topics: (reconstruction, weight_map, composite, "
        "detections, link_state, frame_report, semantics, reconstruction_camera_info, "
        "diagnostics, camera: the robot's raw camera, large)"))
    storage: str = field(default="mcap", metadata=describe(
        "rosbag2 storage: mcap (default) or sqlite3"))
    image_depth: int = field(default=10, metadata=describe(
        "History depth of the recorder's image subscriptions (best effort: frames that "
        "arrive while the writer is busy wait here instead of being dropped)"))
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)

    def validate(self) -> None:
        """Raise ConfigError on an unknown topic name or storage."""
        unknown = [name for name in self.record if name not in RECORDABLE]
        if unknown:
            raise ConfigError(f"recorder.record: unknown {unknown}; one of {list(RECORDABLE)}")
        if self.storage not in ("mcap", "sqlite3"):
            raise ConfigError("recorder.storage must be mcap or sqlite3")
        if self.image_depth < 1:
            raise ConfigError("recorder.image_depth must be >= 1")


#: node name (= section of config/semcomm.yaml) -> its configuration class
NODE_SCHEMA: dict[str, type] = {
    SOURCE_NODE: SourceNodeConfig,
    ENCODER_NODE: EncoderNodeConfig,
    LINK_MONITOR_NODE: LinkMonitorNodeConfig,
    DECODER_NODE: DecoderNodeConfig,
    RECORDER_NODE: RecorderNodeConfig,
}


def codec_config(path: str | None = None) -> CodecConfig:
    """The codec settings of the encoder section of a config file (default: the shipped one).

    Benchmarks use this, so that they measure what the nodes run.
    """
    return load_node_config(EncoderNodeConfig, ENCODER_NODE, path).codec
