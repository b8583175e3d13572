"""Encoder node (robot side): camera Image -> WeightedSemantics within the link budget.

The budget of each frame comes from :class:`semcomm_ros.link.budget.BudgetController`:
LinkState's target rate x headroom / the measured camera rate, a safe budget when
LinkState times out, a semantics-only keep-alive while the link is dead (STALE),
frame-rate reduction below a floor, and a frame-level pacer (skipped frames are
counted in diagnostics, with the reason).

It also listens to the decoder's FrameReports (reliable) and hands each to the
codec (``SemanticEncoder.feedback``): the auto coder keeps its model of what
the base station holds in step with them (a loss heals one round trip later).
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from semcomm_ros.codec import SemanticEncoder
from semcomm_ros.codec.bitstream import q_time
from semcomm_ros.config import ENCODER_NODE
from semcomm_ros.link.budget import STATE_STALE, BudgetController, BudgetDecision, BudgetMode
from semcomm_ros.msg import FrameReport, LinkState, WeightedSemantics
from semcomm_ros.node_config import EncoderNodeConfig
from semcomm_ros.nodes.convert import (
    compressed_msg_to_bgr,
    frame_to_msg,
    image_msg_to_bgr,
    stamp_to_ns,
)
from semcomm_ros.nodes.diagnostics import OK, WARN, Health, to_array
from semcomm_ros.nodes.log_bridge import bridge_library_logs
from semcomm_ros.nodes.params import changed, declare_config, watch_config
from semcomm_ros.nodes.qos import camera_qos, control_qos, latched_qos, semantics_qos
from semcomm_ros.nodes.runner import run_node
from semcomm_ros.nodes.wiring import Wiring


class EncoderNode(Node):
    """Detects, weighs and codes each camera frame; follows LinkState's byte budget."""

    def __init__(self, **kwargs) -> None:
        super().__init__(ENCODER_NODE, **kwargs)
        bridge_library_logs(self)  # library warnings (detector fallback, ...) -> /rosout
        self.cfg: EncoderNodeConfig = declare_config(self, EncoderNodeConfig)
        self.encoder = SemanticEncoder(self.cfg.codec)
        self.sequence = 0
        self.controller = BudgetController(self.cfg.budget, self.cfg.default_budget_bytes,
                                           self.cfg.max_budget_bytes, self.cfg.use_link_state)
        self.decision: BudgetDecision | None = None
        self.last_info: CameraInfo | None = None
        self.health = Health(f"{self.get_name()}: encoder")
        self.stats = {"dropped": 0, "encode_ms": 0.0, "bytes": 0, "last_level": 0,
                      "budget_bytes": 0}
        self.wiring = Wiring(self)
        self._wire()
        watch_config(self, EncoderNodeConfig, self._reconfigure)
        self.get_logger().info(f"encoding {self._camera_topic()} -> {self.cfg.topics.semantics}"
                               f", default budget {self.cfg.default_budget_bytes} B/frame, "
                               f"detector {self.encoder.detector.name}")

    def _camera_topic(self) -> str:
        t = self.cfg.topics
        return t.camera.rstrip("/") + "/compressed" if t.camera_transport == "compressed" \
            else t.camera

    def _wire(self) -> None:
        """Publishers, subscriptions and timers from the current configuration."""
        w, t, q = self.wiring, self.cfg.topics, self.cfg.qos
        self.pub = w.publisher(WeightedSemantics, t.semantics, semantics_qos(q))
        image_type = CompressedImage if t.camera_transport == "compressed" else Image
        w.subscription(image_type, self._camera_topic(), self._on_image, camera_qos(q))
        w.subscription(LinkState, t.link_state, self._on_link_state, control_qos(q))
        w.subscription(FrameReport, t.frame_report, self._on_report, control_qos(q))
        self.pub_info = None
        if t.camera_info:
            self.pub_info = w.publisher(CameraInfo, t.link_camera_info, latched_qos())
            w.subscription(CameraInfo, t.camera_info, self._on_camera_info, 10)
            self.last_info = None  # forward the next one
        self.pub_diag = w.publisher(DiagnosticArray, t.diagnostics, 10) if t.diagnostics else None
        w.timer(self.cfg.diagnostics_period_s, self._publish_health)

    def _reconfigure(self, cfg: EncoderNodeConfig) -> None:
        rewire = changed(self.cfg, cfg, "topics", "qos") or \
            cfg.diagnostics_period_s != self.cfg.diagnostics_period_s
        self.encoder.update_config(cfg.codec)
        self.controller.configure(cfg.budget, cfg.default_budget_bytes, cfg.max_budget_bytes,
                                  cfg.use_link_state)
        self.cfg = cfg
        if rewire:
            self.wiring.clear()
            self._wire()
            self.get_logger().info(f"topics/QoS changed: now {self._camera_topic()} -> "
                                   f"{cfg.topics.semantics}")

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _on_link_state(self, msg: LinkState) -> None:
        # estimated_throughput_bps is the rate the sender should use (the estimator's
        # target); the budget per frame is made here, from the measured camera rate
        capacity = getattr(msg, "capacity_bps", None)
        self.controller.on_link_state(self._now(), float(msg.estimated_throughput_bps),
                                      int(msg.estimator_state),
                                      None if capacity is None else float(capacity))

    def _on_report(self, msg: FrameReport) -> None:
        self.controller.on_report(self._now())
        self.encoder.feedback(msg.sequence, msg.decoded_ok)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        """Forward CameraInfo across the link only when the calibration or size changes."""
        last = self.last_info
        if last is not None and (last.width, last.height, list(last.k), list(last.d),
                                 last.distortion_model, last.header.frame_id) == (
                msg.width, msg.height, list(msg.k), list(msg.d), msg.distortion_model,
                msg.header.frame_id):
            return
        self.last_info = msg
        if self.pub_info is not None:
            self.pub_info.publish(msg)

    def _on_image(self, msg: Image | CompressedImage) -> None:
        # decide first: a frame that is not coded is not decoded either
        stamp = stamp_to_ns(msg.header.stamp) * 1e-9
        decision = self.controller.on_camera_frame(self._now(), stamp if stamp > 0 else None)
        self.decision = decision
        if not decision.send:
            return  # frame-rate reduction, keep-alive spacing or pacing (counted)
        try:
            if isinstance(msg, CompressedImage):
                img = compressed_msg_to_bgr(msg, self.cfg.codec.limits.max_dimension)
                encoding = "bgr8"
            else:
                img = image_msg_to_bgr(msg)
                encoding = msg.encoding
            t0 = time.perf_counter()
            # the encoding goes in before the frame is fitted to the budget (it counts)
            frame = self.encoder.encode(img, byte_budget=decision.budget_bytes,
                                        sequence=self.sequence, source_encoding=encoding)
            frame.encode_time_ms = q_time((time.perf_counter() - t0) * 1e3)  # fixed wire size
        except Exception as exc:  # noqa: BLE001 - node boundary: log, drop the frame, keep serving
            self.stats["dropped"] += 1
            self.get_logger().error(f"dropping camera frame: {type(exc).__name__}: {exc}")
            return
        out = frame_to_msg(frame, msg.header)
        out.send_stamp = self.get_clock().now().to_msg()
        self.pub.publish(out)
        self.controller.sent(self._now(), frame.bytes_used)
        self.sequence += 1
        self.stats.update(encode_ms=frame.encode_time_ms, bytes=frame.bytes_used,
                          last_level=frame.level, budget_bytes=decision.budget_bytes)

    def _publish_health(self) -> None:
        detector = self.encoder.detector.name
        level, message = OK, "encoding"
        if detector == "opencv":
            level, message = WARN, "OpenCV fallback detector: key objects are unreliable"
        d, ctl = self.decision, self.controller
        mode = ctl.mode_at(self._now())
        if mode is BudgetMode.TIMEOUT:
            level, message = WARN, (f"no LinkState for {self.cfg.budget.link_timeout_s:g} s: "
                                    f"safe budget {self.cfg.budget.timeout_budget_bytes} B/frame")
        elif mode is BudgetMode.KEEPALIVE:
            level, message = WARN, (f"link dead (LinkState STALE): semantics-only keep-alive "
                                    f"at {self.cfg.budget.keepalive_rate_hz:g} frames/s")
        elif d is not None and d.mode is BudgetMode.REDUCED:
            message = f"frame-rate reduction: {d.reason}"
        if self.sequence == 0:
            level, message = WARN, f"no camera frame yet on {self._camera_topic()}"
        budget = dict(budget_mode=mode.value, link_state_stale=ctl.link_state == STATE_STALE)
        if d is not None:
            budget.update(camera_rate_hz=round(d.camera_rate_hz, 2),
                          coded_rate_hz=round(d.coded_rate_hz, 2),
                          target_kbps=round(d.target_bps / 1e3, 1))
        budget.update({f"skipped_{k}": v for k, v in ctl.skipped.items()})
        if ctl.scale < 1:
            level, message = WARN, (f"no FrameReport for the frames sent: budget x "
                                    f"{ctl.scale:g} until reports return")
        self.health.set(level, message, frames=self.sequence, detector=detector,
                        coder=self.cfg.codec.texture.coder, **budget, **self.stats)
        if self.pub_diag is not None:
            self.pub_diag.publish(to_array(self.get_clock().now().to_msg(), [self.health]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``semcomm_encoder_node`` / ``ros2 run semcomm_ros encoder_node``."""
    run_node(EncoderNode, args)


if __name__ == "__main__":
    main()
