"""Deterministic closed-loop link simulator for the estimator (no ROS, no sockets).

A camera delivers one frame per period; the robot's real
:class:`~semcomm_ros.link.budget.BudgetController` (the encoder node's, with its
capacity guard, frame-rate reduction, keep-alive, unanswered-frame back-off and
frame-level pacer) turns the published LinkState into a byte budget or a skip, and
the codec fills 93-97 % of that budget;
the frame's bytes go as ~1400-byte packets (all at once, or paced) into a
bottleneck: a FIFO served at the capacity of a trace (time, bit/s), tail-dropping
a packet that would wait longer than ``max_queue_delay_s`` (like tc tbf
``latency 300ms``: the byte limit follows the rate set), plus a propagation
delay. A frame arrives only when all its packets did (a lost DDS fragment loses
the sample). The base station stamps arrival (optionally late: a busy host),
reports it to the estimator after ``feedback_delay_s``; the estimator publishes
at ``publish_hz``; the robot applies the published target after
``control_delay_s``. A capacity of 0 is an outage: every packet is dropped and
the queue flushed (like netem loss 100 %). While the estimator says STALE the
budget controller sends semantics-only keep-alives.

Run a scenario with :func:`simulate`, score it with :func:`phase_metrics`.
``python -m semcomm_ros.link.simulate`` prints the standard scenarios.
"""
from __future__ import annotations

import bisect
import math
import random
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from semcomm_ros.link.budget import BudgetConfig, BudgetController, BudgetMode
from semcomm_ros.link.estimator import (
    FrameReportSample,
    LinkConfig,
    LinkEstimate,
    LinkEstimator,
    LinkStateCode,
)


@dataclass
class SimConfig:
    """One closed-loop scenario."""

    trace: list[tuple[float, float]]  # (time s, capacity bit/s), piecewise constant
    duration_s: float
    fps: float = 10.0
    prop_delay_s: float = 0.02
    max_queue_delay_s: float = 0.3
    packet_bytes: int = 1400
    packet_overhead_bytes: int = 50      # RTPS/UDP/IP headers on the wire, per packet
    fill: tuple[float, float] = (0.93, 0.97)  # codec uses this share of the budget
    min_frame_bytes: int = 100           # the semantic layer alone (a smaller budget: this)
    pacing_factor: float = 0.0           # > 0: packets of a frame leave at factor x target
    feedback_delay_s: float = 0.03
    publish_hz: float = 10.0
    control_delay_s: float = 0.02
    clock_offset_s: float = 0.0          # base clock = robot clock + offset
    jitter_prob: float = 0.0             # per frame: receive stamp late by U(jitter_ms)
    jitter_ms: tuple[float, float] = (20.0, 80.0)
    receiver_start_s: float = 0.0        # the base station reports only frames arriving after
    loss_bursts: list[tuple[float, float, float]] = field(default_factory=list)  # (t, dur, p)
    seed: int = 1
    step_s: float = 0.001
    link: LinkConfig = field(default_factory=LinkConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # the encoder's controller
    default_budget_bytes: int = 6000     # encoder: budget before any LinkState
    max_budget_bytes: int = 200_000      # encoder: largest budget


@dataclass
class SimFrame:
    """One frame the robot sent."""

    sequence: int
    send_time: float
    bytes: int
    target_bps: float
    keepalive: bool
    delivered: bool = False
    receive_time: float = math.nan   # sim time the frame arrived (before host jitter)


@dataclass
class SimResult:
    """Frames sent and estimates published."""

    config: SimConfig
    frames: list[SimFrame]
    estimates: list[tuple[float, LinkEstimate]]  # (sim time, estimate)

    def capacity_at(self, t: float) -> float:
        """True capacity at sim time t."""
        return capacity_at(self.config.trace, t)


def capacity_at(trace: list[tuple[float, float]], t: float) -> float:
    """Value of a piecewise-constant (time, rate) trace at t."""
    times = [p[0] for p in trace]
    i = bisect.bisect_right(times, t) - 1
    return float(trace[max(i, 0)][1])


def simulate(cfg: SimConfig) -> SimResult:
    """Run the closed loop; deterministic for a given seed."""
    rng = random.Random(cfg.seed)
    est = LinkEstimator(cfg.link)
    frames: list[SimFrame] = []
    estimates: list[tuple[float, LinkEstimate]] = []
    queue: deque[list] = deque()  # [frame index, bytes left on the wire]
    queued_bytes = 0.0
    sender: deque[tuple[float, int, int]] = deque()  # (release time, frame index, wire bytes)
    packets_left: dict[int, int] = {}
    lost: set[int] = set()
    reports: deque[tuple[float, FrameReportSample]] = deque()
    states: deque[tuple[float, LinkEstimate]] = deque()
    visible: LinkEstimate | None = None
    robot = BudgetController(cfg.budget, cfg.default_budget_bytes, cfg.max_budget_bytes)
    robot_reports: deque[float] = deque()  # times FrameReports reach the robot
    last_base_stamp = -math.inf
    next_frame, next_publish = 0.0, 0.0
    credit = 0.0
    steps = int(round(cfg.duration_s / cfg.step_s))
    for k in range(steps + 1):
        t = k * cfg.step_s
        while states and states[0][0] <= t:
            visible = states.popleft()[1]
            robot.on_link_state(t, visible.estimated_throughput_bps, int(visible.state),
                                visible.capacity_bps)
        while robot_reports and robot_reports[0] <= t:
            robot_reports.popleft()
            robot.on_report(t)
        if t + 1e-9 >= next_frame:
            next_frame += 1.0 / cfg.fps
            decision = robot.on_camera_frame(t, t)
            if decision.send:
                target = visible.estimated_throughput_bps if visible else cfg.link.initial_bps
                size = max(min(cfg.min_frame_bytes, decision.budget_bytes),
                           int(decision.budget_bytes * rng.uniform(*cfg.fill)))
                keepalive = decision.mode is BudgetMode.KEEPALIVE
                robot.sent(t, size)
                idx = len(frames)
                frames.append(SimFrame(idx, t, size, target, keepalive))
                n_pkts = max(1, math.ceil(size / cfg.packet_bytes))
                packets_left[idx] = n_pkts
                pace = cfg.pacing_factor * target / 8.0 if cfg.pacing_factor > 0 else 0.0
                release = t
                for p in range(n_pkts):
                    payload = min(cfg.packet_bytes, size - p * cfg.packet_bytes)
                    wire = payload + cfg.packet_overhead_bytes
                    sender.append((release, idx, wire))
                    if pace > 0:
                        release += wire / pace
        cap = capacity_at(cfg.trace, t)
        limit = cap / 8.0 * cfg.max_queue_delay_s + 2 * (cfg.packet_bytes + 50)
        while sender and sender[0][0] <= t + 1e-12:
            _, idx, wire = sender.popleft()
            p_loss = sum(p for (t0, d, p) in cfg.loss_bursts if t0 <= t < t0 + d)
            if cap <= 0 or queued_bytes + wire > limit or rng.random() < p_loss:
                lost.add(idx)
                packets_left[idx] -= 1
                continue
            queue.append([idx, wire])
            queued_bytes += wire
        if cap <= 0 and queue:  # outage: everything in flight is lost
            for idx, _ in queue:
                lost.add(idx)
                packets_left[idx] -= 1
            queue.clear()
            queued_bytes = 0.0
        credit = credit + cap / 8.0 * cfg.step_s if queue else 0.0
        while queue and credit >= queue[0][1]:
            idx, wire = queue.popleft()
            credit -= wire
            queued_bytes -= wire
            packets_left[idx] -= 1
            if packets_left[idx] == 0 and idx not in lost \
                    and t >= cfg.receiver_start_s:  # (before: no decoder to report it)
                f = frames[idx]
                f.delivered, f.receive_time = True, t + cfg.step_s + cfg.prop_delay_s
                stamp = f.receive_time
                if cfg.jitter_prob > 0 and rng.random() < cfg.jitter_prob:
                    stamp += rng.uniform(*cfg.jitter_ms) / 1e3
                stamp = max(stamp, last_base_stamp)  # a busy host stamps in order
                last_base_stamp = stamp
                reports.append((stamp + cfg.feedback_delay_s, FrameReportSample(
                    f.sequence, f.bytes, f.send_time, stamp + cfg.clock_offset_s)))
                robot_reports.append(stamp + 2 * cfg.feedback_delay_s)
        while reports and reports[0][0] <= t:
            due, rep = reports.popleft()
            est.add_report(rep, now=due + cfg.clock_offset_s)
        if t + 1e-9 >= next_publish:
            next_publish += 1.0 / cfg.publish_hz
            e = est.estimate(t + cfg.clock_offset_s)
            estimates.append((t, e))
            states.append((t + cfg.control_delay_s, e))
    return SimResult(cfg, frames, estimates)


@dataclass
class PhaseMetrics:
    """Scores of one phase [start, end) of a run."""

    start: float
    end: float
    capacity_bps: float
    convergence_s: float        # first time the target stays within +-20 % (nan: never)
    capacity_convergence_s: float  # same for capacity_bps
    first_within_s: float       # first time the target is within +-20 % (nan: never)
    within_fraction: float      # share of the phase from first_within_s on the target is within
    goodput_ratio: float        # delivered payload after convergence / capacity
    latency_p50_ms: float
    latency_p95_ms: float
    delivered_fraction: float   # frames delivered / sent
    fps_delivered: float
    cuts: int                   # entries into OVERUSE or LOSS

    def line(self) -> str:
        """One human-readable line."""
        return (f"{self.start:5.1f}-{self.end:5.1f}s cap {self.capacity_bps / 1e3:6.0f} kbit/s: "
                f"within 20 % after {self.first_within_s:4.2f}s ({100 * self.within_fraction:3.0f} "
                f"% of the rest) stays {self.convergence_s:4.2f}s "
                f"(capacity_bps {self.capacity_convergence_s:4.2f}s) "
                f"goodput {100 * self.goodput_ratio:5.1f} % p50 {self.latency_p50_ms:5.0f} "
                f"p95 {self.latency_p95_ms:5.0f} ms "
                f"delivered {100 * self.delivered_fraction:5.1f} % "
                f"{self.fps_delivered:4.1f} fps cuts {self.cuts}")


def _convergence(times: np.ndarray, values: np.ndarray, cap: float, start: float) -> float:
    ok = np.abs(values - cap) <= 0.2 * cap
    if not len(ok) or not ok[-1]:
        return math.nan
    bad = np.nonzero(~ok)[0]
    first_ok = times[bad[-1] + 1] if len(bad) else times[0]
    return float(first_ok - start)


def phase_metrics(res: SimResult, start: float, end: float,
                  settle_s: float | None = None) -> PhaseMetrics:
    """Scores of [start, end).

    Goodput counts from ``start + settle_s`` (default: the first
    time the target is within +-20 % of the capacity).
    """
    cap = res.capacity_at(start)
    est = [(t, e) for t, e in res.estimates if start <= t < end]
    times = np.array([t for t, _ in est])
    conv = _convergence(times, np.array([e.estimated_throughput_bps for _, e in est]), cap, start)
    cconv = _convergence(times, np.array([e.capacity_bps for _, e in est]), cap, start)
    tgt = np.array([e.estimated_throughput_bps for _, e in est])
    ok = np.abs(tgt - cap) <= 0.2 * cap if cap > 0 else np.zeros(len(tgt), bool)
    hits = np.nonzero(ok)[0]
    first = float(times[hits[0]] - start) if len(hits) else math.nan
    within = float(ok[hits[0]:].mean()) if len(hits) else 0.0
    settle = settle_s if settle_s is not None else (first if not math.isnan(first) else 0.0)
    g0 = start + settle
    got = sum(f.bytes for f in res.frames if f.delivered and g0 <= f.receive_time < end)
    goodput = 8.0 * got / max(end - g0, 1e-9) / cap if cap > 0 else math.nan
    sent = [f for f in res.frames if start <= f.send_time < end]
    lat = [1e3 * (f.receive_time - f.send_time) for f in sent if f.delivered]
    cuts, prev = 0, None
    for _, e in est:
        if e.state in (LinkStateCode.OVERUSE, LinkStateCode.LOSS) and e.state != prev:
            cuts += 1
        prev = e.state
    return PhaseMetrics(
        start, end, cap, conv, cconv, first, within, goodput,
        float(np.percentile(lat, 50)) if lat else math.nan,
        float(np.percentile(lat, 95)) if lat else math.nan,
        len(lat) / len(sent) if sent else math.nan,
        len(lat) / (end - start), cuts)


def step_trace() -> list[tuple[float, float]]:
    """The issue's step: 4 -> 0.5 -> 2 Mbit/s, 20 s each."""
    return [(0.0, 4e6), (20.0, 0.5e6), (40.0, 2e6)]


def sawtooth_trace(low: float = 0.5e6, high: float = 3e6, period_s: float = 10.0,
                   duration_s: float = 40.0, step_s: float = 0.5) -> list[tuple[float, float]]:
    """Linear ramps low -> high, then a drop back to low, in steps of step_s."""
    out, t = [], 0.0
    while t < duration_s:
        phase = (t % period_s) / period_s
        out.append((t, low + (high - low) * phase))
        t += step_s
    return out


def outage_trace(rate: float = 1e6) -> list[tuple[float, float]]:
    """10 s of link, a 10 s outage, 15 s of link again."""
    return [(0.0, rate), (10.0, 0.0), (20.0, rate)]


def main() -> None:  # pragma: no cover - a report for humans
    """Print the standard scenarios' per-phase numbers."""
    runs = {
        "step 4 -> 0.5 -> 2 Mbit/s": (SimConfig(step_trace(), 60.0), [(0, 20), (20, 40), (40, 60)]),
        "step, paced 1.3x": (SimConfig(step_trace(), 60.0, pacing_factor=1.3),
                             [(0, 20), (20, 40), (40, 60)]),
        "step, host jitter 10 %": (SimConfig(step_trace(), 60.0, jitter_prob=0.1),
                                   [(0, 20), (20, 40), (40, 60)]),
        "outage 10 s at 1 Mbit/s": (SimConfig(outage_trace(), 35.0), [(0, 10), (20, 35)]),
    }
    runs["step, 5 fps, base station up after 6 s"] = (
        SimConfig([(0.0, 4e6), (26.0, 0.5e6), (46.0, 2e6)], 66.0, fps=5.0,
                  receiver_start_s=6.0), [(6, 26), (26, 46), (46, 66)])
    for name, (cfg, phases) in runs.items():
        res = simulate(cfg)
        print(name)
        for a, b in phases:
            print("  " + phase_metrics(res, a, b).line())
    res = simulate(SimConfig(outage_trace(), 35.0))
    back = [f.receive_time for f in res.frames if f.delivered and f.receive_time >= 20.0]
    full = [f.receive_time for f in res.frames
            if f.delivered and f.receive_time >= 20.0 and not f.keepalive]
    print(f"outage: first frame after return {back[0] - 20.0:.2f}s, "
          f"first full frame {full[0] - 20.0:.2f}s")


if __name__ == "__main__":  # pragma: no cover
    main()
