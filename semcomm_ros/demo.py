"""`semcomm demo`: play the sample bag through the whole node graph over real DDS.

Starts the encoder, link monitor and decoder as separate processes (as
``ros2 launch semcomm_ros semcomm.launch.py`` would), then the source node, and
records what a teleoperator would see. By default the encoder follows the link
monitor (the closed loop); ``budget`` > 0 fixes the budget instead.

The link: as root (``link="auto"``), the robot side (source, encoder) and the base
station (link monitor, decoder) run in two network namespaces joined by a veth pair
shaped by ``tc tbf`` at ``link_kbit`` (a comma list steps through the rates in equal
parts of the run), DDS over UDP only, so every frame crosses the shaped link. A
recorder runs on each side (robot: camera + WeightedSemantics, which must not cross
the link twice; base: reconstruction, FrameReport, LinkState) and this process merges
what they saw. Without root: everything on loopback, one recorder in this process.

Writes to the output folder:

* ``frames/recon_NNNN.png`` - the reconstructed frames;
* ``frames.csv`` - one row per camera frame: sequence (-1: not coded: frame-rate
  reduction, keep-alive spacing or pacing), bytes, budget, level, objects, encode /
  decode time, end-to-end latency (camera stamp -> reconstruction), PSNR against the
  original, and the link monitor's estimate, capacity and state at the frame's time,
  and the shaped rate;
* ``side_by_side.png`` - original | weight map | reconstruction;
* ``link.png`` - estimate, shaped rate and delivered rate (kbit/s) and the budget per
  frame over time.
"""
from __future__ import annotations

import argparse
import csv
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from skimage.metrics import peak_signal_noise_ratio

from semcomm_ros.config import SOURCE_NODE, dds_environment, load_node_config
from semcomm_ros.launcher import Graph, NodeProcess
from semcomm_ros.link import LinkConfig
from semcomm_ros.msg import FrameReport, LinkState, WeightedSemantics
from semcomm_ros.node_config import SourceNodeConfig, TopicsConfig
from semcomm_ros.nodes.convert import compressed_msg_to_bgr, image_msg_to_bgr, stamp_to_ns
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
    estimate_kbps: float = float("nan")
    capacity_kbps: float = float("nan")
    link_state: int = -1
    shaped_kbps: float = float("nan")


@dataclass
class LinkSample:
    """One LinkState as the recorder received it."""

    t_ns: int
    estimate_bps: float
    capacity_bps: float
    state: int
    extra: dict = field(default_factory=dict)


class Recorder(Node):
    """Subscribes to camera, semantics, reports, reconstruction, overlay and LinkState.

    ``side``: "all" (loopback), "robot" (camera + semantics: what is local to the robot)
    or "base" (reconstruction, overlay, reports, LinkState).
    """

    def __init__(self, topics: TopicsConfig, side: str = "all",
                 camera_reliable: bool = False, compressed: bool = False) -> None:
        super().__init__(f"semcomm_demo_recorder_{side}")
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.originals: dict[int, np.ndarray] = {}
        self.recons: dict[int, np.ndarray] = {}
        self.overlays: dict[int, np.ndarray] = {}
        self.rows: dict[int, FrameRow] = {}
        self.links: list[LinkSample] = []
        self.reports: dict[int, tuple[float, int]] = {}  # sequence -> decode ms, bytes
        self.by_seq: dict[int, int] = {}  # sequence -> camera stamp
        self.topics, self.side = topics, side
        self.first_frame_file: Path | None = None
        robot, base = side in ("all", "robot"), side in ("all", "base")
        if robot:
            cam_qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE) \
                if camera_reliable else qos
            self.create_subscription(Image, topics.camera, self._on_camera, cam_qos)
            self.create_subscription(WeightedSemantics, topics.semantics, self._on_semantics,
                                     qos)
        # (compressed: JPEG, as a raw image over UDP loses fragments)
        self.recon_topic = topics.reconstruction.rstrip("/") + "/compressed" if compressed \
            else topics.reconstruction
        if base:
            self.create_subscription(CompressedImage if compressed else Image, self.recon_topic,
                                     self._on_recon, qos)
        if base:
            if topics.weight_map and not compressed:
                self.create_subscription(Image, topics.weight_map, self._on_overlay, qos)
            self.create_subscription(FrameReport, topics.frame_report, self._on_report,
                                     QoSProfile(depth=100))
            self.create_subscription(LinkState, topics.link_state, self._on_link,
                                     QoSProfile(depth=100))

    def _row(self, stamp_ns: int) -> FrameRow:
        return self.rows.setdefault(stamp_ns, FrameRow(stamp_ns))

    def _on_link(self, msg: LinkState) -> None:
        self.links.append(LinkSample(
            self.get_clock().now().nanoseconds, float(msg.estimated_throughput_bps),
            float(getattr(msg, "capacity_bps", float("nan"))), int(msg.estimator_state)))

    def _on_camera(self, msg: Image) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        if self.first_frame_file is not None and not self.originals:
            self.first_frame_file.write_text(str(stamp))  # the link schedule starts now
        self.originals[stamp] = image_msg_to_bgr(msg)
        self._row(stamp)

    def _on_semantics(self, msg: WeightedSemantics) -> None:
        row = self._row(stamp_to_ns(msg.header.stamp))
        row.sequence, row.bytes_used = msg.sequence, msg.bytes_used
        row.byte_budget = msg.byte_budget
        row.level, row.objects, row.encode_ms = msg.level, len(msg.objects), msg.encode_time_ms
        self.by_seq[msg.sequence] = row.stamp_ns
        self._attach(msg.sequence)

    def _on_report(self, msg: FrameReport) -> None:
        self.reports[msg.sequence] = (msg.decode_time_ms, msg.bytes)
        self._attach(msg.sequence)

    def _attach(self, sequence: int) -> None:
        """The decode time of a frame, once both its semantics and its report are known."""
        stamp, rep = self.by_seq.get(sequence), self.reports.get(sequence)
        if stamp is not None and rep is not None:
            self.rows[stamp].decode_ms = rep[0]

    def _on_recon(self, msg: Image | CompressedImage) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        now = self.get_clock().now().nanoseconds
        self.recons[stamp] = compressed_msg_to_bgr(msg) if isinstance(msg, CompressedImage) \
            else image_msg_to_bgr(msg)
        self._row(stamp).latency_ms = (now - stamp) / 1e6

    def _on_overlay(self, msg: Image) -> None:
        self.overlays[stamp_to_ns(msg.header.stamp)] = image_msg_to_bgr(msg)

    def graph_ready(self) -> bool:
        """True once the encoder listens to the camera and the decoder publishes."""
        robot = self.count_subscribers(self.topics.camera) >= 2
        base = (self.count_publishers(self.recon_topic) >= 1  # the topic subscribed to
                and self.count_subscribers(self.topics.frame_report) >= 2)
        return {"robot": robot, "base": base}.get(self.side, robot and base)

    def dump(self) -> dict:
        """What this recorder saw, for the process that merges both sides."""
        return {"rows": {k: vars(v) for k, v in self.rows.items()}, "reports": self.reports,
                "originals": self.originals, "recons": self.recons,
                "overlays": self.overlays, "links": [vars(s) for s in self.links]}

    def merge(self, other: dict) -> None:
        """Add what another side's recorder saw (rows merged field by field, by stamp)."""
        for stamp, fields in other["rows"].items():
            mine, theirs = self._row(stamp), FrameRow(**fields)
            for name in FrameRow.__dataclass_fields__:
                value, default = getattr(theirs, name), getattr(FrameRow(0), name)
                if value != default and not (isinstance(value, float) and np.isnan(value)) \
                        and name != "stamp_ns":
                    setattr(mine, name, value)
        for key in ("originals", "recons", "overlays"):
            getattr(self, key).update(other[key])
        self.links = sorted(self.links + [LinkSample(**s) for s in other["links"]],
                            key=lambda s: s.t_ns)
        for stamp, row in self.rows.items():
            if row.sequence >= 0:
                self.by_seq[row.sequence] = stamp
        self.reports.update(other.get("reports", {}))
        for seq in list(self.reports):
            self._attach(seq)


LINK_MODES = ("auto", "netns", "loopback")


def _spin_until(node: Node, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
        if done():
            return True
    return False


def parse_rates(link_kbit: str) -> list[int]:
    """'1000' or '1000,0,300' -> kbit/s per equal part of the run (each 0 or >= 50).

    0 is an outage: the robot's egress drops every packet (a blackhole qdisc).
    """
    rates = [int(float(r)) for r in str(link_kbit).split(",") if r.strip()]
    if not rates or rates[0] < 50 or any(0 < r < 50 or r < 0 for r in rates):
        raise ValueError("link rates: comma-separated kbit/s, each 0 (outage) or >= 50; "
                         "the first >= 50")
    return rates


def _set_link(shaped, rate_kbit: int) -> None:
    """Shape the robot's egress at ``rate_kbit`` (tbf, as ShapedLink does), or cut it (0)."""
    cmd = [*shaped.exec_prefix("robot"), "tc", "qdisc", "replace", "dev", shaped.robot_if,
           "root"]
    if rate_kbit == 0:
        cmd += ["blackhole"]  # (drops everything; this kernel has no netem)
    else:
        burst = max(4000, rate_kbit * 1000 // 8 // 50)  # ~20 ms of tokens
        cmd += ["tbf", "rate", f"{rate_kbit}kbit", "burst", str(burst),
                "latency", f"{shaped.latency_ms}ms"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")


def resolve_link(link: str) -> str:
    """'auto' -> 'netns' when shaped namespaces can be made here (root), else 'loopback'."""
    if link not in LINK_MODES:
        raise ValueError(f"link must be one of {LINK_MODES}")
    if link == "loopback":
        return link
    from semcomm_ros.bench.netns import netns_available

    why = netns_available()
    if why is None:
        return "netns"
    if link == "netns":
        raise RuntimeError(f"a shaped namespace link {why}")
    print(f"[demo] loopback link (a shaped namespace link {why})")
    return "loopback"


def run_demo(out: Path, config: str | None = None, source: str | None = None,
             start: int = 600, frames: int = 30, rate_hz: float = 5.0,
             overrides: dict | None = None, domain_id: int | None = None,
             startup_timeout: float = 120.0, link: str = "auto",
             link_kbit: str = "1000") -> Path:
    """Run the demo; returns the path of the CSV. Raises RuntimeError on failure."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "frames").mkdir(exist_ok=True)
    domain_id = domain_id if domain_id is not None else random.randint(100, 199)
    src_cfg = load_node_config(SourceNodeConfig, SOURCE_NODE, config)
    topics = src_cfg.topics
    overrides = overrides or {}
    # the video coder's bitrate is budget x frame rate: tell it the camera rate (the budget
    # itself comes from the measured camera rate)
    encoder = {"codec.rate.frame_rate": rate_hz, **overrides.get("encoder", {})}
    monitor = dict(overrides.get("link_monitor", {}))
    if "frame_rate" in LinkConfig.__dataclass_fields__:  # (the estimator may measure it)
        monitor.setdefault("link.frame_rate", rate_hz)
    source_overrides = {"start_index": start, "max_frames": frames, "rate_hz": rate_hz,
                        "wait_for_subscribers": 2}
    if source:
        source_overrides["source"] = source
    mode = resolve_link(link)
    rates = parse_rates(link_kbit) if mode == "netns" else []
    duration = frames / rate_hz
    if mode == "netns":
        rec = _run_netns(out, config, topics, encoder, monitor, overrides.get("decoder", {}),
                         source_overrides, domain_id, rates, duration, frames, startup_timeout)
    else:
        rec = _run_loopback(out, config, topics, encoder, monitor, overrides.get("decoder", {}),
                            source_overrides, domain_id, duration, frames, startup_timeout)
    return _write_outputs(rec, out, rates, duration)


def _run_loopback(out, config, topics, encoder, monitor, decoder, source_overrides, domain_id,
                  duration, frames, startup_timeout) -> Recorder:
    graph = Graph([NodeProcess("encoder_node", encoder),
                   NodeProcess("link_monitor_node", monitor),
                   NodeProcess("decoder_node", decoder)],
                  config=config, domain_id=domain_id, log_dir=out / "logs")
    # the encoder and this recorder: frames sent before discovery completes are lost
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
        print(f"[demo] playing {frames} frames from index {source_overrides['start_index']} "
              f"at {source_overrides['rate_hz']:g} Hz over loopback")
        source_graph.start()
        _spin_until(recorder, lambda: len(recorder.recons) >= frames, duration + 10.0)
        _spin_until(recorder, lambda: False, 1.0)  # late reports
    finally:
        source_graph.stop()
        graph.stop()
        recorder.destroy_node()
        rclpy.try_shutdown()
    return recorder


def _run_netns(out, config, topics, encoder, monitor, decoder, source_overrides, domain_id,
               rates, duration, frames, startup_timeout) -> Recorder:
    from semcomm_ros.bench.netns import UDP_ONLY_PROFILE, ShapedLink

    work = Path(tempfile.mkdtemp(prefix="semcomm-demo-"))
    profile = work / "fastdds_udp.xml"
    profile.write_text(UDP_ONLY_PROFILE)
    env = {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile), "ROS_DOMAIN_ID": str(domain_id)}
    # camera -> encoder is local to the robot but over UDP here (a 900 kB image in best
    # effort loses fragments): reliable
    reliable = {"qos.camera_reliability": "reliable"}
    with ShapedLink(rates[0]) as shaped:
        robot, base = shaped.exec_prefix("robot"), shaped.exec_prefix("base")
        graph = Graph([NodeProcess("encoder_node", {**encoder, **reliable}, robot),
                       NodeProcess("link_monitor_node", monitor, base),
                       NodeProcess("decoder_node", {"compressed_output": True,
                                                    "topics.weight_map": "", **decoder}, base)],
                      config=config, env=env, log_dir=out / "logs")
        source_graph = Graph([NodeProcess("source_node", {**source_overrides, **reliable},
                                          robot)],
                             config=config, env=env, log_dir=out / "logs")
        sides = {}
        try:
            graph.start()
            for side, prefix in (("robot", robot), ("base", base)):
                cmd = [*prefix, sys.executable, "-m", "semcomm_ros.demo", "--side", side,
                       "--work", str(work), "--frames", str(frames),
                       "--timeout", str(startup_timeout + duration + 60.0)]
                if config:
                    cmd += ["--config", str(config)]
                sides[side] = subprocess.Popen(cmd, env=graph.env)
            print(f"[demo] ROS_DOMAIN_ID={domain_id}; robot and base station in namespaces "
                  f"{shaped.robot} / {shaped.base}, link shaped at {rates[0]} kbit/s; "
                  "waiting for the nodes")
            deadline = time.monotonic() + startup_timeout
            while not all((work / f"{s}.ready").exists() for s in sides):
                failed = graph.failed() + [s for s, p in sides.items() if p.poll() is not None]
                if failed or time.monotonic() > deadline:
                    raise RuntimeError(f"graph did not come up (failed: {failed}); "
                                       f"see {out / 'logs'}")
                time.sleep(0.2)
            print(f"[demo] playing {frames} frames from index "
                  f"{source_overrides['start_index']} at {source_overrides['rate_hz']:g} Hz "
                  f"over the shaped link ({', '.join(map(str, rates))} kbit/s)")
            source_graph.start()
            first = work / "t0"  # the robot recorder writes the first frame's stamp
            deadline = time.monotonic() + startup_timeout
            while not first.exists() and time.monotonic() < deadline \
                    and not source_graph.failed():
                time.sleep(0.05)
            t0 = time.monotonic()
            for i, rate in enumerate(rates[1:], start=1):
                time.sleep(max(0.0, t0 + i * duration / len(rates) - time.monotonic()))
                _set_link(shaped, rate)
                print(f"[demo] link now {rate} kbit/s" if rate else "[demo] link cut (outage)")
            try:  # every frame rebuilt, or the source done and a grace period over
                sides["base"].wait(timeout=max(0.0, t0 + duration + 10.0 - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            (work / "stop").touch()
            sides["base"].wait(timeout=30)
            sides["robot"].wait(timeout=30)
        finally:
            (work / "stop").touch()
            for p in sides.values():
                if p.poll() is None:
                    p.terminate()
                    p.wait(timeout=10)
            source_graph.stop()
            graph.stop()
    rclpy.init()  # (a node without subscriptions holds the merged record)
    rec = Recorder(topics, side="none")
    for side in ("robot", "base"):
        path = work / f"{side}.pkl"
        if not path.exists():
            raise RuntimeError(f"the {side} recorder wrote nothing; see {out / 'logs'}")
        rec.merge(pickle.loads(path.read_bytes()))
    t0_text = (work / "t0").read_text() if (work / "t0").exists() else ""
    rec.t0_ns = int(t0_text) if t0_text.strip() else None
    rec.destroy_node()
    rclpy.try_shutdown()
    return rec


def _record_side(side: str, work: Path, frames: int, timeout: float,
                 config: str | None) -> int:
    """One side's recorder in its namespace (``python -m semcomm_ros.demo --side ...``)."""
    topics = load_node_config(SourceNodeConfig, SOURCE_NODE, config).topics
    rclpy.init()
    rec = Recorder(topics, side=side, camera_reliable=True, compressed=True)
    if side == "robot":
        rec.first_frame_file = work / "t0"
    try:
        if not _spin_until(rec, rec.graph_ready, timeout):
            return 1
        (work / f"{side}.ready").touch()
        stop = work / "stop"
        done = (lambda: len(rec.recons) >= frames or stop.exists()) if side == "base" \
            else stop.exists
        _spin_until(rec, done, timeout)
        _spin_until(rec, lambda: False, 1.0)  # late reports
        (work / f"{side}.pkl").write_bytes(pickle.dumps(rec.dump()))
    finally:
        rec.destroy_node()
        rclpy.try_shutdown()
    return 0


def _at(links: list[LinkSample], t_ns: int) -> LinkSample | None:
    """The latest LinkState received at or before ``t_ns``."""
    best = None
    for s in links:
        if s.t_ns > t_ns:
            break
        best = s
    return best


def _summary(rec: Recorder) -> str:
    rows = list(rec.rows.values())
    camera = [r for r in rows if r.stamp_ns in rec.originals] or rows
    reached = [r for r in camera if r.stamp_ns in rec.recons]
    lat = [r.latency_ms for r in reached]
    p50, p95 = (np.percentile(lat, [50, 95]) if lat else (float("nan"), float("nan")))
    return (f"{len(reached)} of {len(camera)} camera frames reached the operator "
            f"({100 * len(reached) / max(1, len(camera)):.0f} %), end-to-end latency "
            f"p50 {p50:.0f} ms, p95 {p95:.0f} ms")


def plot_link(rec: Recorder, path: Path, rates: list[int], duration: float) -> None:
    """Estimate, shaped rate, delivered rate (kbit/s) and budget per frame over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stamps = sorted(rec.rows)
    t0 = getattr(rec, "t0_ns", None) or (stamps[0] if stamps else 0)
    fig, ax = plt.subplots(figsize=(9, 4))
    if rec.links:
        lt = [(s.t_ns - t0) / 1e9 for s in rec.links]
        ax.plot(lt, [s.estimate_bps / 1e3 for s in rec.links], label="link monitor target")
        cap = [s.capacity_bps / 1e3 for s in rec.links]
        if not all(np.isnan(cap)):
            ax.plot(lt, cap, "--", label="capacity estimate")
    if rates:
        edges = [i * duration / len(rates) for i in range(len(rates) + 1)]
        ax.step(edges, rates + [rates[-1]], where="post", color="k", label="shaped rate (tbf)")
    got = [s for s in stamps if s in rec.recons]
    if got:
        t = np.array([(s - t0) / 1e9 for s in got])
        b = np.array([rec.rows[s].bytes_used for s in got])
        bins = np.arange(np.floor(t.min()), np.ceil(t.max()) + 1, 1.0)
        if len(bins) > 1:
            rate = [8 * b[(t >= x) & (t < x + 1)].sum() / 1e3 for x in bins[:-1]]
            ax.plot(bins[:-1] + 0.5, rate, "o-", ms=3, label="delivered (1 s bins)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("kbit/s")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    coded = [s for s in stamps if rec.rows[s].byte_budget > 0]
    ax2.plot([(s - t0) / 1e9 for s in coded], [rec.rows[s].byte_budget for s in coded], "r.",
             ms=4, label="budget per frame (B)")
    ax2.set_ylabel("bytes per frame", color="r")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _write_outputs(rec: Recorder, out: Path, rates: list[int] | None = None,
                   duration: float = 0.0) -> Path:
    if not rec.recons:
        raise RuntimeError(f"no reconstructed frame arrived; see {out / 'logs'}")
    stamps = sorted(rec.rows)
    t0 = getattr(rec, "t0_ns", None)
    for stamp in stamps:  # the loop's state at the frame's capture time
        row, sample = rec.rows[stamp], _at(rec.links, stamp)
        if sample is not None:
            row.estimate_kbps, row.link_state = sample.estimate_bps / 1e3, sample.state
            row.capacity_kbps = sample.capacity_bps / 1e3
        if rates and t0 is not None:
            part = int((stamp - t0) / 1e9 / (duration / len(rates)))
            row.shaped_kbps = float(rates[min(max(part, 0), len(rates) - 1)])
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
    plot_link(rec, out / "link.png", rates or [], duration)
    print(f"[demo] {_summary(rec)}")
    return csv_path


def main(argv: list[str] | None = None) -> int:
    """A recorder of one side in its namespace (started by :func:`run_demo`)."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--side", choices=["robot", "base"], required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--config", default=None)
    a = p.parse_args(argv)
    return _record_side(a.side, Path(a.work), a.frames, a.timeout, a.config)


if __name__ == "__main__":
    sys.exit(main())
