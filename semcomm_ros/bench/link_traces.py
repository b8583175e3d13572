"""Capacity traces for `semcomm bench link`, and the pure arithmetic of its report.

A trace is a list of change points (time s, capacity kbit/s); capacity 0 is an
outage (the link passes nothing, both ways). Traces are concatenated into one
timeline that the benchmark applies to the shaped link with ``tc``. Everything
here is free of ROS and of root, so it is unit-tested directly
(test/bench/test_link.py).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: a step is "large" (convergence is measured after it) when capacity changes by more than this
STEP_RATIO = 1.25
#: the estimate has converged when it stays within this fraction of the capacity
CONVERGED_WITHIN = 0.20
#: smallest non-zero rate a trace may ask of tbf
MIN_KBIT = 50


@dataclass
class Phase:
    """A stretch of the timeline reported on its own (one capacity, or one sawtooth)."""

    name: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length of the phase, s."""
        return self.end_s - self.start_s


@dataclass
class Trace:
    """Change points (t, kbit/s) from t = 0 to ``duration_s``; phases to report."""

    name: str
    points: list[tuple[float, int]]
    duration_s: float
    phases: list[Phase] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.points or self.points[0][0] != 0:
            raise ValueError(f"trace {self.name}: needs a rate at t = 0")
        times = [t for t, _ in self.points]
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError(f"trace {self.name}: times must increase")
        if self.duration_s <= times[-1]:
            raise ValueError(f"trace {self.name}: duration must be after the last change")
        for _, k in self.points:
            if k != 0 and k < MIN_KBIT:
                raise ValueError(f"trace {self.name}: rate {k} kbit/s: 0 (outage) or >= "
                                 f"{MIN_KBIT}")
        if not self.phases:
            self.phases = [Phase(f"{self.name} {k or 'outage'}{' kbit/s' if k else ''}", t, e)
                           for (t, k), e in zip(self.points, times[1:] + [self.duration_s])]


def step_trace(rates=(4000, 500, 2000), step_s: float = 15.0) -> Trace:
    """The issue's step: 4 -> 0.5 -> 2 Mbit/s."""
    return Trace("step", [(i * step_s, int(k)) for i, k in enumerate(rates)],
                 len(rates) * step_s)


def sawtooth_trace(low: int = 500, high: int = 2000, period_s: float = 10.0,
                   periods: int = 2, step_s: float = 1.0) -> Trace:
    """Linear ramps from ``low`` up to ``high`` (in ``step_s`` steps), then a drop to ``low``."""
    n = max(2, int(round(period_s / step_s)))
    points = [(p * period_s + i * step_s, int(round(low + (high - low) * i / (n - 1))))
              for p in range(periods) for i in range(n)]
    dur = periods * period_s
    return Trace("sawtooth", points, dur, [Phase("sawtooth", 0.0, dur)])


def outage_trace(rate: int = 1000, before_s: float = 10.0, outage_s: float = 10.0,
                 after_s: float = 12.0) -> Trace:
    """A healthy link, a dead one for ``outage_s``, the healthy link again."""
    back = before_s + outage_s
    return Trace("outage", [(0.0, rate), (before_s, 0), (back, rate)], back + after_s,
                 [Phase(f"outage: before, {rate} kbit/s", 0.0, before_s),
                  Phase("outage: link dead", before_s, back),
                  Phase(f"outage: after, {rate} kbit/s", back, back + after_s)])


def load_trace(path: str | Path) -> Trace:
    """CSV ``time_s,rate_kbit`` (header optional, '#' comments) -> a trace.

    The last row's time is the end of the trace when its rate is empty or '-';
    otherwise the last rate is held for 10 s. More than 12 changes are reported
    as one phase.
    """
    points: list[tuple[float, int]] = []
    end = None
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            try:
                t = float(row[0])
            except ValueError:
                if points:
                    raise ValueError(f"{path}: bad time {row[0]!r}") from None
                continue  # a header
            rate = row[1].strip() if len(row) > 1 else ""
            if rate in ("", "-"):
                end = t
                break
            points.append((t, int(float(rate))))
    if not points:
        raise ValueError(f"{path}: no (time_s, rate_kbit) rows")
    t0 = points[0][0]
    points = [(t - t0, k) for t, k in points]
    duration = (end - t0) if end is not None else points[-1][0] + 10.0
    trace = Trace(Path(path).stem, points, duration)
    if len(points) > 12:
        trace.phases = [Phase(Path(path).stem, 0.0, duration)]
    return trace


TRACES = {"step": step_trace, "sawtooth": sawtooth_trace, "outage": outage_trace}


def select(names: str, trace_file: str | None = None) -> list[Trace]:
    """'step,sawtooth,outage' (+ a trace file) -> traces."""
    out = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name not in TRACES:
            raise ValueError(f"unknown trace {name!r}: {', '.join(TRACES)}")
        out.append(TRACES[name]())
    if trace_file:
        out.append(load_trace(trace_file))
    if not out:
        raise ValueError("no trace selected")
    return out


def concat(traces: list[Trace]) -> Trace:
    """One timeline: the traces one after another, phases shifted."""
    points: list[tuple[float, int]] = []
    phases: list[Phase] = []
    t = 0.0
    for tr in traces:
        for pt, k in tr.points:
            if not points or points[-1][1] != k:
                points.append((t + pt, k))
        phases += [Phase(p.name, t + p.start_s, t + p.end_s) for p in tr.phases]
        t += tr.duration_s
    return Trace("+".join(tr.name for tr in traces), points, t, phases)


def capacity_at(points: list[tuple[float, int]], t: float) -> int:
    """Capacity (kbit/s) in force at time ``t`` (the first rate before the start)."""
    k = points[0][1]
    for pt, pk in points:
        if pt > t:
            break
        k = pk
    return k


def mean_capacity(points: list[tuple[float, int]], a: float, b: float) -> float:
    """Time-weighted mean capacity (kbit/s) over [a, b)."""
    if b <= a:
        return float("nan")
    edges = sorted({a, b, *(t for t, _ in points if a < t < b)})
    total = sum(capacity_at(points, lo) * (hi - lo) for lo, hi in zip(edges, edges[1:]))
    return total / (b - a)


def steps(points: list[tuple[float, int]], end_s: float,
          min_hold_s: float = 4.0) -> list[tuple[float, int, int, float]]:
    """Large capacity changes held at least ``min_hold_s``: (time, from, to, until).

    The end of an outage counts; a sawtooth's 1 s steps do not (too short to judge a
    2 s convergence; the sawtooth is judged by its phase's estimate instead).
    """
    out = []
    for i in range(1, len(points)):
        t, k = points[i]
        prev = points[i - 1][1]
        if k == 0:
            continue
        if prev == 0 or max(k, prev) / min(k, prev) >= STEP_RATIO:
            until = points[i + 1][0] if i + 1 < len(points) else end_s
            if until - t >= min_hold_s:
                out.append((t, prev, k, until))
    return out


def convergence_time(times, estimates_kbit, capacity_kbit: float, start: float,
                     end: float, within: float = CONVERGED_WITHIN) -> float:
    """Seconds after ``start`` until the estimate stays within +-``within`` of the capacity.

    It must stay there until ``end``; NaN: never, or no estimate in the window.
    """
    pts = [(t, e) for t, e in zip(times, estimates_kbit) if start <= t < end]
    if not pts:
        return float("nan")
    ok = [abs(e - capacity_kbit) <= within * capacity_kbit for _, e in pts]
    if not ok[-1]:
        return float("nan")
    i = len(ok)
    while i > 0 and ok[i - 1]:
        i -= 1
    # the last excursion ends at sample i-1; converged from sample i (or at start if none)
    return 0.0 if i == 0 else max(0.0, pts[i][0] - start)


def percentile(values, q: float) -> float:
    """NaN-safe percentile (NaN for no values)."""
    v = [x for x in values if x is not None and not math.isnan(x)]
    return float(np.percentile(v, q)) if v else float("nan")


def first_after(times, t: float) -> float:
    """Delay from ``t`` to the first time >= t (NaN if none)."""
    later = [x for x in times if x >= t]
    return min(later) - t if later else float("nan")
