"""Decoder node (base station): WeightedSemantics -> reconstructed Image, plus FrameReports."""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import replace

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from semcomm_ros.codec import BitstreamError, CompositionDecoder
from semcomm_ros.codec.frame import LimitExceeded, MissingReference
from semcomm_ros.config import DECODER_NODE
from semcomm_ros.msg import FrameReport, WeightedSemantics
from semcomm_ros.node_config import DecoderNodeConfig
from semcomm_ros.nodes.convert import (
    bgr_to_compressed_msg,
    bgr_to_image_msg,
    msg_to_frame,
    received_bytes,
)
from semcomm_ros.nodes.diagnostics import OK, WARN, Health, to_array
from semcomm_ros.nodes.log_bridge import bridge_library_logs
from semcomm_ros.nodes.markers import objects_to_markers
from semcomm_ros.nodes.params import changed, declare_config, watch_config
from semcomm_ros.nodes.qos import control_qos, image_qos, latched_qos
from semcomm_ros.nodes.runner import run_node
from semcomm_ros.nodes.wiring import Wiring
from semcomm_ros.reconstruction import make_reconstructor
from semcomm_ros.visualize import weight_overlay


class Refiner:
    """One worker thread that runs ``work(job)`` on the job it was offered, one at a time."""

    def __init__(self, work) -> None:
        """Start the (daemon) worker."""
        self._work = work
        self._job = None
        self._busy = False
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="semcomm-refiner", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Let the job in hand finish and stop the worker.

        A daemon thread still inside torch when the interpreter exits aborts the process
        ("terminate called without an active exception").
        """
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def offer(self, job) -> bool:
        """Take ``job`` if the worker is idle; False (job not taken) while it is busy."""
        with self._cond:
            if self._busy:
                return False
            self._job, self._busy = job, True
            self._cond.notify()
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
            try:
                self._work(job)
            finally:
                with self._cond:
                    self._busy = False


class DecoderNode(Node):
    """Decodes each frame, rebuilds the image and reports back to the link monitor."""

    def __init__(self, **kwargs) -> None:
        super().__init__(DECODER_NODE, **kwargs)
        bridge_library_logs(self)  # library warnings (detector fallback, ...) -> /rosout
        self.cfg: DecoderNodeConfig = declare_config(self, DecoderNodeConfig)
        self.decoder = CompositionDecoder(self.cfg.codec)
        self.reconstructor = make_reconstructor(self.cfg.reconstruction)
        self.get_logger().info(f"reconstruction backend: {self.reconstructor.name}")
        self.camera_info: CameraInfo | None = None
        self.decoded = 0
        self.dropped = 0
        self.refined = 0
        self.unrefined = 0  # frames shown as composites because the refiner was busy
        self.last_ms = 0.0
        self.refine_ms = 0.0
        self._shown_sequence = -1
        self._warned_sizes: set[tuple[int, int]] = set()
        self._shown_lock = threading.Lock()
        self._refiner = Refiner(self._refine)
        self.health = Health(f"{self.get_name()}: decoder")
        self.wiring = Wiring(self)
        self._wire()
        watch_config(self, DecoderNodeConfig, self._reconfigure)

    def _wire(self) -> None:
        """Publishers, subscriptions and timers from the current configuration."""
        w, t, c = self.wiring, self.cfg.topics, self.cfg
        iq, cq = image_qos(c.qos), control_qos(c.qos)
        self.pub_image = w.publisher(Image, t.reconstruction, iq)
        self.pub_compressed = w.publisher(CompressedImage, t.reconstruction.rstrip("/")
                                          + "/compressed", iq) if c.compressed_output else None
        self.pub_composite = w.publisher(Image, t.composite, iq) if t.composite else None
        self.pub_overlay = w.publisher(Image, t.weight_map, iq) if t.weight_map else None
        self.pub_markers = w.publisher(MarkerArray, t.detections, 10) if t.detections else None
        self.pub_info = w.publisher(CameraInfo, t.reconstruction_camera_info, iq) \
            if t.reconstruction_camera_info else None
        self.pub_report = w.publisher(FrameReport, t.frame_report, cq)
        self.pub_diag = w.publisher(DiagnosticArray, t.diagnostics, 10) if t.diagnostics else None
        w.subscription(WeightedSemantics, t.semantics, self._on_frame, iq)
        w.subscription(CameraInfo, t.link_camera_info, self._on_camera_info, latched_qos())
        w.timer(c.diagnostics_period_s, self._publish_health)

    def _reconfigure(self, cfg: DecoderNodeConfig) -> None:
        old, self.cfg = self.cfg, cfg
        if cfg.codec != old.codec:
            self.decoder.update_config(cfg.codec)
        if cfg.reconstruction != old.reconstruction:
            update = getattr(self.reconstructor, "update_config", None)
            if update is not None and update(cfg.reconstruction):
                # the knob (realism) and other live fields: taken over in place, no reload
                self.get_logger().info(f"reconstruction: realism {cfg.reconstruction.realism}")
            else:
                self.reconstructor = make_reconstructor(cfg.reconstruction)  # the refiner's
                # next job uses it; one already running finishes with the old one
                self.get_logger().info(f"reconstruction backend: {self.reconstructor.name}")
        if changed(old, cfg, "topics", "qos", "compressed_output", "diagnostics_period_s"):
            self.wiring.clear()
            self._wire()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def _on_frame(self, msg: WeightedSemantics) -> None:
        """Decode at once (the codec's state must follow every frame), refine off-thread.

        Decoding (composition) is fast and keeps the canvases the next frames build
        on; the diffusion refinement is slow on a CPU. So the callback decodes,
        reports and, when the refiner is free, hands the frame to it; when it is
        still busy with an older frame, the composite is published at once instead
        (the operator's view stays live; the skip is counted in the diagnostics).
        """
        received = self.get_clock().now()
        t0 = time.perf_counter()
        report = FrameReport(sequence=msg.sequence, send_stamp=msg.send_stamp,
                             receive_stamp=received.to_msg())
        frame = None
        try:
            frame = msg_to_frame(msg, self.cfg.codec.limits)
            decoded = self.decoder.decode(frame)
        except MissingReference as exc:
            # Builds on a picture this decoder never got (a loss): show the last one, report
            # decoded_ok = false so the encoder codes the next frame against what we hold.
            self._drop(report, msg, frame, t0, FrameReport.STATUS_MISSING_REFERENCE,
                       f"reference missing: {exc}", conceal=True)
            return
        except LimitExceeded as exc:
            self._drop(report, msg, frame, t0, FrameReport.STATUS_LIMIT, f"over a limit: {exc}")
            return
        except BitstreamError as exc:
            self._drop(report, msg, frame, t0, FrameReport.STATUS_MALFORMED,
                       f"malformed frame: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - node boundary: log, drop, keep serving
            self._drop(report, msg, frame, t0, FrameReport.STATUS_INTERNAL,
                       f"{type(exc).__name__}: {exc}")
            return
        height, width = decoded.image.shape[:2]
        too_large = width * height > self.cfg.reconstruction.max_pixels
        if too_large and (width, height) not in self._warned_sizes \
                and len(self._warned_sizes) < 16:  # bounded: a sender may vary the size
            self._warned_sizes.add((width, height))
            self.get_logger().warning(
                f"{width}x{height} pictures are over reconstruction.max_pixels "
                f"({self.cfg.reconstruction.max_pixels}): shown as composed, not refined")
        refine = self.reconstructor.name != "none" and not too_large and self._refiner.offer(
            (replace(decoded, image=decoded.image.copy()), msg.header, msg.sequence))
        if not refine:
            if self.reconstructor.name != "none":
                self.unrefined += 1
            self._show(decoded.image, decoded, msg.header, msg.sequence)
        report.bytes = received_bytes(msg, frame)
        report.decode_time_ms = self.last_ms = (time.perf_counter() - t0) * 1e3
        report.texture_mode = frame.texture_mode
        report.picture_updated = decoded.updated
        report.decoded_ok = True
        report.status = FrameReport.STATUS_OK
        report.header.stamp = self.get_clock().now().to_msg()
        self.pub_report.publish(report)
        self.decoded += 1

    def _refine(self, job) -> None:
        """Refiner thread: reconstruct one decoded frame and publish it."""
        decoded, header, sequence = job
        t0 = time.perf_counter()
        try:
            image = self.reconstructor.reconstruct(decoded)
        except Exception as exc:  # noqa: BLE001 - show the composite, keep serving
            self.get_logger().warning(f"refinement failed, showing the composite: "
                                      f"{type(exc).__name__}: {exc}")
            image = decoded.image
        self.refine_ms = (time.perf_counter() - t0) * 1e3
        self.refined += 1
        try:
            self._show(image, decoded, header, sequence)
        except Exception as exc:  # noqa: BLE001 - e.g. the node shutting down meanwhile
            self.get_logger().debug(f"refined frame {sequence} not published: {exc}")

    def _show(self, image, decoded, header: Header, sequence: int) -> None:
        """Publish a frame unless a newer one is already on screen (never go back in time)."""
        with self._shown_lock:
            if sequence < self._shown_sequence:
                return
            self._shown_sequence = sequence
            self._publish_outputs(image, decoded, header)

    def _publish_outputs(self, image, decoded, header: Header) -> None:
        """The picture and everything published beside it."""
        self._publish_picture(image, header)
        if self.pub_composite is not None:
            self.pub_composite.publish(bgr_to_image_msg(decoded.image, header))
        if self.pub_overlay is not None:
            self.pub_overlay.publish(bgr_to_image_msg(weight_overlay(image, decoded), header))
        if self.pub_markers is not None:
            k = tuple(self.camera_info.k) if self.camera_info is not None else None
            self.pub_markers.publish(objects_to_markers(
                decoded.objects, header, image.shape[1], image.shape[0],
                self.cfg.marker_depth, self.cfg.marker_scale, k))

    def _publish_picture(self, image, header: Header) -> None:
        """The reconstruction, and beside it its CameraInfo and compressed copy."""
        self.pub_image.publish(bgr_to_image_msg(image, header))
        if self.pub_compressed is not None:
            self.pub_compressed.publish(bgr_to_compressed_msg(image, header,
                                                              self.cfg.compressed_quality))
        if self.pub_info is not None and self.camera_info is not None:
            # a copy: the refiner thread and the callback both publish, and the latest
            # CameraInfo may be replaced meanwhile
            info = copy.copy(self.camera_info)
            info.header = header  # same stamp and frame as the picture it describes
            self.pub_info.publish(info)

    def _drop(self, report: FrameReport, msg: WeightedSemantics, frame, t0: float, status: int,
              why: str, conceal: bool = False) -> None:
        self.dropped += 1
        report.status = status
        report.decode_time_ms = (time.perf_counter() - t0) * 1e3
        concealed = self.decoder.conceal(msg.sequence) if conceal else None
        if concealed is not None:
            self._show(concealed.image, concealed, msg.header, msg.sequence)
        report.bytes = min(received_bytes(msg, frame), 2**32 - 1)
        report.texture_mode = msg.texture_mode
        report.picture_updated = False
        self.get_logger().warning(f"dropping frame {msg.sequence}: {why[:300]}")
        report.decoded_ok = False
        report.header.stamp = self.get_clock().now().to_msg()
        self.pub_report.publish(report)

    def _publish_health(self) -> None:
        level, message = OK, "decoding"
        if self.decoded == 0:
            level, message = WARN, f"no frame decoded yet from {self.cfg.topics.semantics}"
        elif self.dropped > self.decoded / 10:
            level, message = WARN, "more than 10 % of the frames dropped"
        self.health.set(level, message, decoded=self.decoded, dropped=self.dropped,
                        refined=self.refined, shown_unrefined=self.unrefined,
                        backend=self.reconstructor.name, decode_ms=self.last_ms,
                        refine_ms=self.refine_ms, camera_info=self.camera_info is not None)
        if self.pub_diag is not None:
            self.pub_diag.publish(to_array(self.get_clock().now().to_msg(), [self.health]))

    def destroy_node(self) -> None:
        """Stop the refiner thread first (its job in hand finishes), then the node."""
        self._refiner.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Entry point: ``semcomm_decoder_node`` / ``ros2 run semcomm_ros decoder_node``."""
    run_node(DecoderNode, args)


if __name__ == "__main__":
    main()
