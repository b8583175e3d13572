"""Link estimation from receiver reports (no ROS inside)."""
from semcomm_ros.link.estimator import (
    FrameReportSample,
    LinkConfig,
    LinkEstimate,
    LinkEstimator,
    LinkStateCode,
)

__all__ = ["FrameReportSample", "LinkConfig", "LinkEstimate", "LinkEstimator", "LinkStateCode"]
