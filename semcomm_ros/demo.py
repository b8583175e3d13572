"""`semcomm demo`: play the sample bag through the whole node graph over real DDS.

Starts the encoder, link monitor and decoder as separate processes (as
``ros2 launch semcomm_ros semcomm.launch.py`` would), then the source node, and
records in this process what a teleoperator would see. Writes to the output
folder:

* ``frames/recon_NNNN.png`` - the reconstructed frames;
* ``frames.csv`` - one row per frame: sequence, bytes, budget, level, objects,
  encode / decode time, end-to-end latency, PSNR against the original;
* ``side_by_side.png`` - original | weight map | reconstruction.
"""
from __future__ import annotations

import csv
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from skimage.metrics import peak_signal_noise_ratio

from semcomm_ros.config import SOURCE_NODE, dds_environment, load_node_config
from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.msg import FrameReport, WeightedSemantics
from semcomm_ros.node_config import SourceNodeConfig, TopicsConfig
from semcomm_ros.nodes.convert import image_msg_to_bgr, stamp_to_ns
from semcomm_ros.visualize import side_by_side


@dataclass
class FrameRow:
    """What the demo learned about one frame."""

    stamp_ns: int
    sequence: int = -1
    bytes_used: int = 0
    byte_budget: int = 0
    level: int = -1
    objects: int = 0
    encode_ms: float = float("nan")
    decode_ms: float = float("nan")
    latency_ms: float = float("nan")
    psnr_db: float = float("nan")


class Recorder(Node):
    """Subscribes to camera, semantics, reports, reconstruction and overlay."""

    def __init__(self, topics: TopicsConfig) -> None:
        super().__init__("semcomm_demo_recorder")
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.originals: dict[int, np.ndarray] = {}
        self.recons: dict[int, np.ndarray] = {}
        self.overlays: dict[int, np.ndarray] = {}
        self.rows: dict[int, FrameRow] = {}
        self.by_seq: dict[int, int] = {}
        self.topics = topics
        self.create_subscription(Image, topics.camera, self._on_camera, qos)
        self.create_subscription(WeightedSemantics, topics.semantics, self._on_semantics, qos)
        self.create_subscription(Image, topics.reconstruction, self._on_recon, qos)
        if topics.weight_map:
            self.create_subscription(Image, topics.weight_map, self._on_overlay, qos)
        self.create_subscription(FrameReport, topics.frame_report, self._on_report,
                                 QoSProfile(depth=100))

    def _row(self, stamp_ns: int) -> FrameRow:
        return self.rows.setdefault(stamp_ns, FrameRow(stamp_ns))

    def _on_camera(self, msg: Image) -> None:
        self.originals[stamp_to_ns(msg.header.stamp)] = image_msg_to_bgr(msg)

    def _on_semantics(self, msg: WeightedSemantics) -> None:
        row = self._row(stamp_to_ns(msg.header.stamp))
        row.sequence, row.bytes_used = msg.sequence, msg.bytes_used
        row.byte_budget = msg.byte_budget
        row.level, row.objects, row.encode_ms = msg.level, len(msg.objects), msg.encode_time_ms
        self.by_seq[msg.sequence] = row.stamp_ns

    def _on_report(self, msg: FrameReport) -> None:
        stamp = self.by_seq.get(msg.sequence)
        if stamp is not None:
            self.rows[stamp].decode_ms = msg.decode_time_ms

    def _on_recon(self, msg: Image) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        now = self.get_clock().now().nanoseconds
        self.recons[stamp] = image_msg_to_bgr(msg)
        self._row(stamp).latency_ms = (now - stamp) / 1e6

    def _on_overlay(self, msg: Image) -> None:
        self.overlays[stamp_to_ns(msg.header.stamp)] = image_msg_to_bgr(msg)

    def graph_ready(self) -> bool:
        """True once the encoder listens to the camera and the decoder publishes."""
        return (self.count_subscribers(self.topics.camera) >= 2
                and self.count_publishers(self.topics.reconstruction) >= 1
                and self.count_subscribers(self.topics.frame_report) >= 2)


def _spin_until(node: Node, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        if done():
            return True
    return False


def run_demo(out: Path, config: str | None = None, source: str | None = None,
             start: int = 600, frames: int = 30, rate_hz: float = 5.0,
             overrides: dict | None = None, domain_id: int | None = None,
             startup_timeout: float = 120.0) -> Path:
    """Run the demo; returns the path of the CSV. Raises RuntimeError on failure."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "frames").mkdir(exist_ok=True)
    domain_id = domain_id if domain_id is not None else random.randint(100, 199)
    src_cfg = load_node_config(SourceNodeConfig, SOURCE_NODE, config)
    topics = src_cfg.topics
    overrides = overrides or {}
    # the budget is per frame: the rate controllers must know the camera rate
    encoder = {"codec.rate.frame_rate": rate_hz, **overrides.get("encoder", {})}
    link = {"link.frame_rate": rate_hz, **overrides.get("link_monitor", {})}
    graph = Graph([NodeProcess("encoder_node", encoder),
                   NodeProcess("link_monitor_node", link),
                   NodeProcess("decoder_node", overrides.get("decoder", {}))],
                  config=config, domain_id=domain_id, log_dir=out / "logs")
    # the encoder and this recorder: frames sent before discovery completes are lost
    source_overrides = {"start_index": start, "max_frames": frames, "rate_hz": rate_hz,
                        "wait_for_subscribers": 2}
    if source:
        source_overrides["source"] = source
    source_graph = Graph([NodeProcess("source_node", source_overrides)], config=config,
                         domain_id=domain_id, log_dir=out / "logs")
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    dds_environment(os.environ)
    rclpy.init()
    recorder = Recorder(topics)
    try:
        graph.start()
        print(f"[demo] ROS_DOMAIN_ID={domain_id}; waiting for encoder, link monitor and decoder")
        if not _spin_until(recorder, lambda: recorder.graph_ready() or graph.failed(),
                           startup_timeout) or graph.failed():
            raise RuntimeError(f"graph did not come up (failed: {graph.failed()}); "
                               f"see {out / 'logs'}")
        print(f"[demo] playing {frames} frames from index {start} at {rate_hz:g} Hz")
        source_graph.start()
        expected = frames
        _spin_until(recorder, lambda: len(recorder.recons) >= expected,
                    frames / rate_hz + 60.0)
        _spin_until(recorder, lambda: False, 1.0)  # late reports
    finally:
        source_graph.stop()
        graph.stop()
        recorder.destroy_node()
        rclpy.try_shutdown()
    return _write_outputs(recorder, out)


def _write_outputs(rec: Recorder, out: Path) -> Path:
    if not rec.recons:
        raise RuntimeError(f"no reconstructed frame arrived; see {out / 'logs'}")
    stamps = sorted(rec.rows)
    for i, stamp in enumerate(s for s in stamps if s in rec.recons):
        cv2.imwrite(str(out / "frames" / f"recon_{i:04d}.png"), rec.recons[stamp])
    for stamp in stamps:
        row = rec.rows[stamp]
        if stamp in rec.recons and stamp in rec.originals:
            row.psnr_db = float(peak_signal_noise_ratio(rec.originals[stamp], rec.recons[stamp]))
    csv_path = out / "frames.csv"
    names = list(FrameRow.__dataclass_fields__)
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for stamp in stamps:
            row = rec.rows[stamp]
            writer.writerow([f"{v:.2f}" if isinstance(v, float) else v
                             for v in (getattr(row, n) for n in names)])
    # prefer a frame whose original the recorder caught (best effort: not guaranteed)
    both = [s for s in stamps if s in rec.recons and s in rec.originals]
    pool = both or [s for s in stamps if s in rec.recons]
    pick = max(pool, key=lambda s: (rec.rows[s].objects, -abs(pool.index(s) - len(pool) // 2)))
    row = rec.rows[pick]
    original = rec.originals.get(pick)
    if original is None:  # keep the panel layout; say what is missing
        original = np.zeros_like(rec.recons[pick])
    panels = [original, rec.overlays.get(pick, rec.recons[pick]), rec.recons[pick]]
    titles = ["original" if pick in rec.originals else "original (not captured)",
              f"weight map ({row.objects} objects)",
              f"reconstruction ({row.bytes_used} B, level {row.level})"]
    cv2.imwrite(str(out / "side_by_side.png"), side_by_side(panels, titles))
    return csv_path
