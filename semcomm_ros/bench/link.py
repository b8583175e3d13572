"""`semcomm bench link`: the closed loop on a real shaped link between two namespaces.

Robot side (namespace 1): source node playing the sample bag, encoder node.
Base side (namespace 2): link monitor, decoder, and a probe that records
FrameReports and LinkStates. Between them a veth pair whose robot->base
direction is limited by a token bucket (tc tbf), stepping through a capacity
schedule (default 1000 kbit/s, then 300 kbit/s, then 1000 kbit/s again). DDS
runs over UDP only, so every semantic frame really crosses the shaped link.

Reports per phase: goodput against capacity, loss, one-way delay, the link
monitor's estimate and the budget it gave the encoder, and how long the budget
took to settle after each step. Writes ``link.md`` and ``link.png`` under --out.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semcomm_ros.bench.netns import ShapedLink, netns_available
from semcomm_ros.bench.report import machine
from semcomm_ros.launcher import Graph, NodeProcess

UDP_ONLY_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <transport_descriptors><transport_descriptor>
    <transport_id>udp</transport_id><type>UDPv4</type>
  </transport_descriptor></transport_descriptors>
  <participant profile_name="udp_only" is_default_profile="true"><rtps>
    <userTransports><transport_id>udp</transport_id></userTransports>
    <useBuiltinTransports>false</useBuiltinTransports>
  </rtps></participant>
</profiles></dds>
"""


@dataclass
class Phase:
    """One step of the capacity schedule."""

    start_s: float
    end_s: float
    capacity_kbit: int


@dataclass
class PhaseResult:
    """What the loop achieved in one phase (after its settling time)."""

    phase: Phase
    goodput_kbit: float
    loss: float
    delay_ms: float
    estimate_kbit: float
    budget_kbit: float
    settle_s: float


def parse_schedule(rates: str, step_s: float) -> list[Phase]:
    """'1000,300,1000' with 20 s steps -> phases."""
    kbits = [int(r) for r in rates.split(",") if r.strip()]
    if not kbits or min(kbits) < 50:
        raise ValueError("rates: comma-separated kbit/s, each >= 50")
    return [Phase(i * step_s, (i + 1) * step_s, k) for i, k in enumerate(kbits)]


def run_experiment(schedule: list[Phase], fps: float, work: Path, start: int = 600,
                   sample: str | None = None) -> list[dict]:
    """Run the loop on a shaped link; returns the probe's rows."""
    profile = work / "fastdds_udp.xml"
    profile.write_text(UDP_ONLY_PROFILE)
    env = {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}
    duration = schedule[-1].end_s
    probe_csv = work / "probe.csv"
    with ShapedLink(schedule[0].capacity_kbit) as link:
        robot, base = link.exec_prefix("robot"), link.exec_prefix("base")
        qos = {"qos.camera_reliability": "reliable"}  # camera -> encoder is local, over UDP here
        source = {"start_index": start, "loop": True, "rate_hz": fps, **qos}
        if sample:
            source["source"] = sample
        graph = Graph([
            NodeProcess("encoder_node", {"use_link_state": True, **qos}, robot),
            NodeProcess("link_monitor_node", {"link.frame_rate": fps}, base),
            NodeProcess("decoder_node", {"reconstruction.backend": "none",
                                         "topics.composite": "", "topics.weight_map": ""}, base),
            NodeProcess("source_node", source, robot),
        ], env=env, log_dir=work / "logs")
        with graph:
            probe = subprocess.Popen(
                [*base, sys.executable, "-m", "semcomm_ros.bench.link_probe",
                 "--duration", str(duration), "--out", str(probe_csv)],
                env=graph.env)
            started = probe_csv.with_suffix(".started")
            while not started.exists() and probe.poll() is None:
                time.sleep(0.2)
            if not started.exists():
                raise RuntimeError(f"no frame crossed the link; see {work / 'logs'}")
            t0 = time.monotonic()
            for phase in schedule[1:]:
                time.sleep(max(0.0, phase.start_s - (time.monotonic() - t0)))
                link.set_rate(phase.capacity_kbit)
            probe.wait(timeout=duration + 60)
    with open(probe_csv) as fh:
        return list(csv.DictReader(fh))


def summarise(rows: list[dict], schedule: list[Phase], fps: float,
              settle_s: float = 6.0) -> list[PhaseResult]:
    """Per-phase goodput, loss, delay, estimate and budget, skipping ``settle_s``."""
    rep = [r for r in rows if r["kind"] == "report"]
    link = [r for r in rows if r["kind"] == "link"]
    results = []
    for ph in schedule:
        a, b = ph.start_s + settle_s, ph.end_s
        rr = [r for r in rep if a <= float(r["t"]) < b]
        ll = [r for r in link if a <= float(r["t"]) < b]
        seqs = [int(r["sequence"]) for r in rr]
        loss = 1 - len(set(seqs)) / (max(seqs) - min(seqs) + 1) if len(seqs) > 1 else 1.0
        goodput = 8 * sum(int(r["bytes"]) for r in rr) / (b - a) / 1000
        # settling: first time after the step from which the budget stays within 25 % of its
        # median over the phase's second half
        lp = [r for r in link if ph.start_s <= float(r["t"]) < b]
        settle = float("nan")
        if lp:
            half = [float(r["budget_bytes"]) for r in lp if float(r["t"]) >= (ph.start_s + b) / 2]
            target = float(np.median(half)) if half else float(lp[-1]["budget_bytes"])
            ok = [abs(float(r["budget_bytes"]) - target) <= 0.25 * target for r in lp]
            for i in range(len(lp)):
                if all(ok[i:]):
                    settle = float(lp[i]["t"]) - ph.start_s
                    break
        results.append(PhaseResult(
            ph, goodput, loss,
            float(np.median([float(r["delay_ms"]) for r in rr])) if rr else float("nan"),
            float(np.median([float(r["estimate_bps"]) for r in ll])) / 1000 if ll else 0.0,
            float(np.median([float(r["budget_bytes"]) for r in ll])) * 8 * fps / 1000
            if ll else 0.0, settle))
    return results


def plot(rows: list[dict], schedule: list[Phase], fps: float, path: Path) -> None:
    """Capacity, estimate, budget and goodput (1 s bins) over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rep = [r for r in rows if r["kind"] == "report"]
    link = [r for r in rows if r["kind"] == "link"]
    end = schedule[-1].end_s
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.step([p.start_s for p in schedule] + [end],
            [p.capacity_kbit for p in schedule] + [schedule[-1].capacity_kbit],
            where="post", color="k", label="link capacity (tbf)")
    t = [float(r["t"]) for r in link]
    ax.plot(t, [float(r["estimate_bps"]) / 1000 for r in link], label="link monitor estimate")
    ax.plot(t, [float(r["budget_bytes"]) * 8 * fps / 1000 for r in link],
            label="encoder budget x frame rate")
    bins = np.arange(0, end + 1, 1.0)
    tr = np.array([float(r["t"]) for r in rep])
    by = np.array([int(r["bytes"]) for r in rep])
    good = [8 * by[(tr >= s) & (tr < s + 1)].sum() / 1000 for s in bins[:-1]]
    ax.plot(bins[:-1] + 0.5, good, "o-", ms=3, label="goodput (frames decoded, 1 s bins)")
    ax.set_xlabel("time since first frame (s)")
    ax.set_ylabel("kbit/s")
    ax.set_ylim(0, max(p.capacity_kbit for p in schedule) * 2)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: list[PhaseResult], out: Path, command: str, fps: float) -> Path:
    """docs/benchmarks/link.md."""
    lines = [
        "# Link benchmark: the closed loop on a shaped link",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        f"- setup: robot and base station in two network namespaces joined by a veth pair; "
        f"robot->base limited by `tc tbf` (queue latency 300 ms); DDS over UDPv4 only; "
        f"sample bag held-out frames looped at {fps:g} frames/s; decoder backend `none`; "
        "each phase's first 6 s excluded (settling).",
        "",
        "| phase | capacity kbit/s | goodput kbit/s | utilisation | loss | median one-way delay ms "
        "| estimate kbit/s | budget x fps kbit/s | budget settled after s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results):
        p = r.phase
        lines.append(
            f"| {i + 1} ({p.start_s:g}-{p.end_s:g} s) | {p.capacity_kbit} | {r.goodput_kbit:.0f} "
            f"| {r.goodput_kbit / p.capacity_kbit:.0%} | {r.loss:.1%} | {r.delay_ms:.0f} "
            f"| {r.estimate_kbit:.0f} | {r.budget_kbit:.0f} | {r.settle_s:.1f} |")
    lines += ["", "![capacity, estimate, budget and goodput over time](link.png)", "",
              "Goodput counts the bytes of frames the decoder received (FrameReport.bytes); "
              "loss counts sequence gaps; the delay is receive minus send stamp (one clock).", ""]
    path = out / "link.md"
    path.write_text("\n".join(lines))
    return path


def _run(args: argparse.Namespace) -> int:
    reason = netns_available()
    if reason:
        print(f"semcomm bench link: {reason}", file=sys.stderr)
        return 2
    schedule = parse_schedule(args.rates, args.step)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="semcomm-link-") as tmp:
        rows = run_experiment(schedule, args.fps, Path(tmp), start=args.start)
    results = summarise(rows, schedule, args.fps)
    plot(rows, schedule, args.fps, out / "link.png")
    cmd = "semcomm bench link " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else \
        "semcomm bench link"
    path = write_report(results, out, cmd.strip(), args.fps)
    print(path.read_text())
    return 0


def register(subparsers) -> None:
    """Add ``link`` to ``semcomm bench``."""
    p = subparsers.add_parser("link", help="closed loop on a shaped link (root, netns)")
    p.add_argument("--rates", default="1000,300,1000", help="capacity schedule, kbit/s")
    p.add_argument("--step", type=float, default=25.0, help="seconds per capacity step")
    p.add_argument("--fps", type=float, default=5.0, help="camera frame rate")
    p.add_argument("--start", type=int, default=600, help="first frame of the sample bag")
    p.add_argument("--out", default="docs/benchmarks")
    p.set_defaults(func=_run)
