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
    SOURCE_NODE,
    ConfigError,
    describe,
    load_node_config,
)
from semcomm_ros.link import LinkConfig
from semcomm_ros.reconstruction import ReconstructionConfig

RELIABILITIES = ("best_effort", "reliable")


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

    def validate(self) -> None:
        """Raise ConfigError on unknown reliability or bad depth."""
        for name in ("camera_reliability", "image_reliability", "control_reliability"):
            if getattr(self, name) not in RELIABILITIES:
                raise ConfigError(f"qos.{name} must be one of {RELIABILITIES}")
        if self.image_depth < 1 or self.control_depth < 1:
            raise ConfigError("qos depths must be >= 1")


@dataclass
class TopicsConfig:
    """Topic names shared by all nodes."""

    camera: str = field(default="/camera/image_raw", metadata=describe(
        "Raw camera images (sensor_msgs/Image) on the robot"))
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
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        if self.rate_hz <= 0 or self.max_frames < 0 or self.start_index < 0:
            raise ConfigError("source: rate_hz > 0, max_frames >= 0, start_index >= 0")


@dataclass
class EncoderNodeConfig:
    """Robot side: Image -> WeightedSemantics within the link's byte budget."""

    default_budget_bytes: int = field(default=6000, metadata=describe(
        "Per-frame byte budget used until (or without) LinkState"))
    use_link_state: bool = field(default=True, metadata=describe(
        "Follow LinkState.recommended_frame_bytes when it arrives"))
    max_budget_bytes: int = field(default=200_000, metadata=describe(
        "Upper bound on any budget, whatever LinkState says"))
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        if not 0 < self.default_budget_bytes <= self.max_budget_bytes:
            raise ConfigError("encoder: need 0 < default_budget_bytes <= max_budget_bytes")


@dataclass
class LinkMonitorNodeConfig:
    """Base station: FrameReport -> LinkState."""

    publish_rate_hz: float = field(default=5.0, metadata=describe(
        "How often LinkState is published, Hz"))
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    link: LinkConfig = field(default_factory=LinkConfig)

    def validate(self) -> None:
        """Raise ConfigError on bad values."""
        if self.publish_rate_hz <= 0:
            raise ConfigError("link monitor: publish_rate_hz must be > 0")


@dataclass
class DecoderNodeConfig:
    """Base station: WeightedSemantics -> Image (+ FrameReport)."""

    topics: TopicsConfig = field(default_factory=TopicsConfig)
    qos: QosConfig = field(default_factory=QosConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    reconstruction: ReconstructionConfig = field(default_factory=ReconstructionConfig)


#: node name (= section of config/semcomm.yaml) -> its configuration class
NODE_SCHEMA: dict[str, type] = {
    SOURCE_NODE: SourceNodeConfig,
    ENCODER_NODE: EncoderNodeConfig,
    LINK_MONITOR_NODE: LinkMonitorNodeConfig,
    DECODER_NODE: DecoderNodeConfig,
}


def codec_config(path: str | None = None) -> CodecConfig:
    """The codec settings of the encoder section of a config file (default: the shipped one).

    Benchmarks use this, so that they measure what the nodes run.
    """
    return load_node_config(EncoderNodeConfig, ENCODER_NODE, path).codec
