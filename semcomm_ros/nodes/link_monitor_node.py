"""Link monitor node: receiver reports in, link estimate and byte budget out."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import Header

from semcomm_ros.config import LINK_MONITOR_NODE
from semcomm_ros.link import FrameReportSample, LinkEstimator, LinkStateCode
from semcomm_ros.msg import FrameReport, LinkState
from semcomm_ros.node_config import LinkMonitorNodeConfig
from semcomm_ros.nodes.convert import stamp_to_ns
from semcomm_ros.nodes.diagnostics import ERROR, OK, WARN, Health, to_array
from semcomm_ros.nodes.log_bridge import bridge_library_logs
from semcomm_ros.nodes.params import changed, declare_config, watch_config
from semcomm_ros.nodes.qos import control_qos
from semcomm_ros.nodes.runner import run_node
from semcomm_ros.nodes.wiring import Wiring


class LinkMonitorNode(Node):
    """Runs a LinkEstimator on FrameReports and publishes LinkState periodically."""

    def __init__(self, **kwargs) -> None:
        super().__init__(LINK_MONITOR_NODE, **kwargs)
        bridge_library_logs(self)  # library warnings (detector fallback, ...) -> /rosout
        self.cfg: LinkMonitorNodeConfig = declare_config(self, LinkMonitorNodeConfig)
        self.estimator = LinkEstimator(self.cfg.link)
        self.health = Health(f"{self.get_name()}: link")
        self.last = None
        self.wiring = Wiring(self)
        self._wire()
        watch_config(self, LinkMonitorNodeConfig, self._reconfigure)

    def _wire(self) -> None:
        """Publishers, subscriptions and timers from the current configuration."""
        w, t = self.wiring, self.cfg.topics
        qos = control_qos(self.cfg.qos)
        self.pub = w.publisher(LinkState, t.link_state, qos)
        w.subscription(FrameReport, t.frame_report, self._on_report, qos)
        w.timer(1.0 / self.cfg.publish_rate_hz, self._publish)
        self.pub_diag = w.publisher(DiagnosticArray, t.diagnostics, 10) if t.diagnostics else None
        w.timer(self.cfg.diagnostics_period_s, self._publish_health)

    def _reconfigure(self, cfg: LinkMonitorNodeConfig) -> None:
        old, self.cfg = self.cfg, cfg
        self.estimator.config = cfg.link
        if changed(old, cfg, "topics", "qos", "publish_rate_hz", "diagnostics_period_s"):
            self.wiring.clear()
            self._wire()

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_report(self, msg: FrameReport) -> None:
        # a malformed frame (decoded_ok false) still crossed the link: count it too.
        # The estimate is recomputed at publish_rate_hz, not per report (GCC/BBR state
        # changes take effect within one publish period)
        try:
            self.estimator.add_report(FrameReportSample(
                sequence=msg.sequence, bytes=msg.bytes,
                send_time=stamp_to_ns(msg.send_stamp) * 1e-9,
                receive_time=stamp_to_ns(msg.receive_stamp) * 1e-9), now=self._now())
        except ValueError as exc:
            self.get_logger().warning(f"dropping bad FrameReport {msg.sequence}: {exc}")

    def _publish(self) -> None:
        est = self.estimator.estimate(self._now())
        msg = LinkState(header=Header(stamp=self.get_clock().now().to_msg()))
        msg.estimated_throughput_bps = est.estimated_throughput_bps
        msg.capacity_bps = est.capacity_bps
        msg.delivered_rate_bps = est.delivered_rate_bps
        msg.one_way_delay_ms = est.one_way_delay_ms
        msg.queue_delay_ms = est.queue_delay_ms
        msg.delay_trend_ms_per_s = est.delay_trend_ms_per_s
        msg.overuse_signal_ms = est.overuse_signal_ms
        msg.overuse_threshold_ms = est.overuse_threshold_ms
        msg.loss_fraction = float(est.loss_fraction)
        msg.seconds_since_report = float(est.seconds_since_report)
        msg.recommended_frame_bytes = est.recommended_frame_bytes
        msg.recommended_frame_rate = float(est.recommended_frame_rate)
        msg.estimator_state = int(est.state)
        msg.window_reports = est.window_reports
        self.pub.publish(msg)
        self.last = est

    def _publish_health(self) -> None:
        est = self.last
        if est is None:
            self.health.set(WARN, "no estimate yet")
        else:
            state = getattr(est.state, "name", str(est.state))
            level, message = OK, (f"target {est.estimated_throughput_bps / 1e3:.0f} kbit/s, "
                                  f"capacity {est.capacity_bps / 1e3:.0f} kbit/s, {state}")
            if est.state == LinkStateCode.STALE:
                level, message = ERROR, (
                    f"no FrameReport for {est.seconds_since_report:.1f} s: link dead? (STALE; "
                    f"keep-alive, capacity {est.capacity_bps / 1e3:.0f} kbit/s held for resume)")
            elif est.window_reports == 0:
                level, message = WARN, f"no FrameReport in the window ({state})"
            elif est.loss_fraction > 0.1:
                level = WARN
                message += f", {100 * est.loss_fraction:.0f} % lost"
            self.health.set(level, message, state=state,
                            estimate_kbps=est.estimated_throughput_bps / 1e3,
                            capacity_kbps=est.capacity_bps / 1e3,
                            queue_delay_ms=est.queue_delay_ms,
                            overuse_signal_ms=est.overuse_signal_ms,
                            overuse_threshold_ms=est.overuse_threshold_ms,
                            seconds_since_report=est.seconds_since_report,
                            delivered_kbps=est.delivered_rate_bps / 1e3,
                            one_way_delay_ms=est.one_way_delay_ms,
                            delay_trend_ms_per_s=est.delay_trend_ms_per_s,
                            loss_fraction=float(est.loss_fraction),
                            frame_bytes=est.recommended_frame_bytes,
                            frame_rate=est.recommended_frame_rate,
                            reports_in_window=est.window_reports)
        if self.pub_diag is not None:
            self.pub_diag.publish(to_array(self.get_clock().now().to_msg(), [self.health]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``semcomm_link_monitor_node`` / ``ros2 run semcomm_ros link_monitor_node``."""
    run_node(LinkMonitorNode, args)


if __name__ == "__main__":
    main()
