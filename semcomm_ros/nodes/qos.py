"""QoS profiles from the configuration: images best-effort and shallow, control reliable."""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from semcomm_ros.node_config import QosConfig

_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
                "reliable": ReliabilityPolicy.RELIABLE}


def camera_qos(cfg: QosConfig) -> QoSProfile:
    """Profile for the raw camera topic."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.image_depth,
                      reliability=_RELIABILITY[cfg.camera_reliability],
                      durability=DurabilityPolicy.VOLATILE)


def image_qos(cfg: QosConfig) -> QoSProfile:
    """Profile for WeightedSemantics and rebuilt Image topics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.image_depth,
                      reliability=_RELIABILITY[cfg.image_reliability],
                      durability=DurabilityPolicy.VOLATILE)


def control_qos(cfg: QosConfig) -> QoSProfile:
    """Profile for LinkState / FrameReport topics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=cfg.control_depth,
                      reliability=_RELIABILITY[cfg.control_reliability],
                      durability=DurabilityPolicy.VOLATILE)


def latched_qos() -> QoSProfile:
    """Profile for state sent on change only (CameraInfo across the link).

    The last message is kept for subscribers that join later (reliable, transient
    local, depth 1).
    """
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
