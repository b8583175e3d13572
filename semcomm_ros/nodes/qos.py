"""QoS profiles from the configuration: images best-effort and shallow, control reliable.

Why (docs/architecture.md, "QoS and pacing"): a WeightedSemantics frame larger than
one datagram crosses the link as DDS fragments; one lost fragment loses the whole
sample. Reliable delivery would then resend a frame that is already stale and block
the writer's history behind it, so semantics go best effort, keep last 1, with a
lifespan; the small LinkState / FrameReport messages go reliable, so that the loop's
feedback survives the loss that it is there to report.
"""
from __future__ import annotations

from rclpy.duration import Duration
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


def semantics_qos(cfg: QosConfig) -> QoSProfile:
    """Profile of the WeightedSemantics writer: ``image_qos`` plus the configured lifespan.

    Lifespan is not a request/offer policy, so readers (the decoder uses ``image_qos``)
    match it either way.
    """
    profile = image_qos(cfg)
    if cfg.semantics_lifespan_ms > 0:
        profile.lifespan = Duration(nanoseconds=int(cfg.semantics_lifespan_ms * 1e6))
    return profile


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
