"""Probe run inside the base-station namespace by ``semcomm bench link``.

Records, for a fixed time after the first frame arrives, every FrameReport
(what crossed the link) and LinkState (what the link monitor concluded) into a
CSV. It subscribes only to base-local topics so that it adds no traffic to the
shaped link.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import rclpy
from rclpy.node import Node

from semcomm_ros.msg import FrameReport, LinkState
from semcomm_ros.node_config import TopicsConfig
from semcomm_ros.nodes.convert import stamp_to_ns

FIELDS = ["t", "kind", "sequence", "bytes", "delay_ms", "decoded_ok", "estimate_bps",
          "delivered_bps", "trend_ms_per_s", "loss", "budget_bytes", "state"]


class Probe(Node):
    """Collects FrameReport and LinkState rows, time relative to the first frame."""

    def __init__(self) -> None:
        super().__init__("semcomm_link_probe")
        topics = TopicsConfig()
        self.rows: list[dict] = []
        self.t0: float | None = None
        self.create_subscription(FrameReport, topics.frame_report, self._report, 100)
        self.create_subscription(LinkState, topics.link_state, self._state, 100)

    def _t(self) -> float:
        return time.monotonic() - self.t0 if self.t0 is not None else -1.0

    def _report(self, m: FrameReport) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic()
        delay = (stamp_to_ns(m.receive_stamp) - stamp_to_ns(m.send_stamp)) / 1e6
        self.rows.append({"t": self._t(), "kind": "report", "sequence": m.sequence,
                          "bytes": m.bytes, "delay_ms": delay, "decoded_ok": int(m.decoded_ok)})

    def _state(self, m: LinkState) -> None:
        if self.t0 is None:
            return
        self.rows.append({"t": self._t(), "kind": "link", "estimate_bps":
                          m.estimated_throughput_bps, "delivered_bps": m.delivered_rate_bps,
                          "trend_ms_per_s": m.delay_trend_ms_per_s, "loss": m.loss_fraction,
                          "budget_bytes": m.recommended_frame_bytes,
                          "delay_ms": m.one_way_delay_ms, "state": m.estimator_state})


def main() -> None:
    """Run the probe: ``python -m semcomm_ros.bench.link_probe --duration S --out F``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--start-timeout", type=float, default=240.0)
    args = ap.parse_args()
    rclpy.init()
    probe = Probe()
    started = Path(args.out).with_suffix(".started")
    deadline = time.monotonic() + args.start_timeout
    while probe.t0 is None and time.monotonic() < deadline:
        rclpy.spin_once(probe, timeout_sec=0.1)
    if probe.t0 is not None:
        started.write_text("1")
        while probe._t() < args.duration:
            rclpy.spin_once(probe, timeout_sec=0.1)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(probe.rows)
    probe.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
