"""Throughput, delay-trend and loss estimation from receiver-side frame reports.

In the spirit of WebRTC's Google Congestion Control (GCC), not a passive
bandwidth meter:

* every frame the base station receives yields a report (sequence, bytes,
  send stamp, receive stamp);
* the **delay gradient** (slope of one-way delay over receive time, by least
  squares over a sliding window) detects queues building up before packets are
  lost: a positive trend means the link is over-used;
* **loss** comes from gaps in the sequence numbers in the window;
* the rate controller is AIMD: multiplicative increase while the link is
  healthy, decrease to a fraction of the measured delivered rate on over-use
  (at most halving per cut, one cut per ``overuse_recut_s``) or heavy loss, hold while the queue
  drains, halve every ``stale_after_s`` of silence (a dead or choked link);
* the estimate is turned into a per-frame **byte budget** for the encoder.

A constant clock offset between robot and base station cancels out of the
delay trend; the absolute one-way delay is only meaningful with synchronised
clocks and is reported as measured.
"""
from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from semcomm_ros.config import ConfigError, describe


class LinkStateCode(enum.IntEnum):
    """Estimator states; values match LinkState.msg's STATE_* constants."""

    STARTING = 0
    NORMAL = 1
    OVERUSE = 2
    UNDERUSE = 3
    LOSS = 4
    STALE = 5


@dataclass
class LinkConfig:
    """Parameters of the link estimator."""

    window_s: float = field(default=2.0, metadata=describe(
        "Sliding window of reports used for rate, delay trend and loss, seconds"))
    min_reports: int = field(default=5, metadata=describe(
        "Reports needed in the window before leaving the STARTING state"))
    initial_bps: float = field(default=1_000_000.0, metadata=describe(
        "Throughput assumed before any estimate, bits/s"))
    min_bps: float = field(default=50_000.0, metadata=describe(
        "Lower bound of the estimate, bits/s"))
    max_bps: float = field(default=50_000_000.0, metadata=describe(
        "Upper bound of the estimate, bits/s"))
    increase_per_s: float = field(default=0.12, metadata=describe(
        "Multiplicative increase per second while the link is healthy (GCC: 8 %)"))
    decrease_factor: float = field(default=0.85, metadata=describe(
        "On over-use, new estimate = factor x delivered rate (GCC: 0.85)"))
    overuse_trend_ms_per_s: float = field(default=30.0, metadata=describe(
        "Delay-gradient threshold for over-use, ms of delay growth per second"))
    overuse_queue_ms: float = field(default=25.0, metadata=describe(
        "Over-use also needs the latest delay this far above the window's minimum, ms "
        "(filters jitter from busy hosts: a real queue has built up)"))
    overuse_recut_s: float = field(default=1.0, metadata=describe(
        "While over-use persists, cut again after this many seconds"))
    loss_high: float = field(default=0.10, metadata=describe(
        "Loss fraction above which the estimate is cut (GCC: 10 %)"))
    loss_low: float = field(default=0.02, metadata=describe(
        "Loss fraction below which the estimate may grow (GCC: 2 %)"))
    stale_after_s: float = field(default=2.0, metadata=describe(
        "No report for this long: link presumed dead (STALE); the estimate then halves "
        "every stale_after_s down to min_bps"))
    frame_rate: float = field(default=10.0, metadata=describe(
        "Frame rate the per-frame byte budget assumes, frames/s"))
    headroom: float = field(default=0.9, metadata=describe(
        "Fraction of the estimate given to image payload (rest: framing, control)"))
    min_frame_bytes: int = field(default=300, metadata=describe(
        "Smallest per-frame budget recommended (semantic layer only)"))
    max_frame_bytes: int = field(default=500_000, metadata=describe(
        "Largest per-frame budget recommended"))

    def validate(self) -> None:
        """Raise ConfigError on inconsistent values."""
        if self.window_s <= 0 or self.stale_after_s <= 0 or self.frame_rate <= 0:
            raise ConfigError("link: window_s, stale_after_s and frame_rate must be > 0")
        if not 0 < self.min_bps <= self.initial_bps <= self.max_bps:
            raise ConfigError("link: need 0 < min_bps <= initial_bps <= max_bps")
        if not 0 < self.decrease_factor < 1 or not 0 < self.headroom <= 1:
            raise ConfigError("link: decrease_factor in (0,1), headroom in (0,1]")
        if not 0 <= self.loss_low < self.loss_high <= 1:
            raise ConfigError("link: need 0 <= loss_low < loss_high <= 1")
        if not 0 < self.min_frame_bytes <= self.max_frame_bytes:
            raise ConfigError("link: need 0 < min_frame_bytes <= max_frame_bytes")


@dataclass(frozen=True)
class FrameReportSample:
    """One receiver report, times in seconds."""

    sequence: int
    bytes: int
    send_time: float
    receive_time: float


@dataclass(frozen=True)
class LinkEstimate:
    """What the estimator believes about the link now."""

    estimated_throughput_bps: float
    delivered_rate_bps: float
    one_way_delay_ms: float
    delay_trend_ms_per_s: float
    loss_fraction: float
    recommended_frame_bytes: int
    recommended_frame_rate: float
    state: LinkStateCode
    window_reports: int


class LinkEstimator:
    """Feed reports with :meth:`add_report`, read :meth:`estimate` periodically."""

    def __init__(self, config: LinkConfig | None = None) -> None:
        self.config = config or LinkConfig()
        self.config.validate()
        self._reports: deque[FrameReportSample] = deque()
        self._estimate_bps = self.config.initial_bps
        self._last_update: float | None = None
        self._last_report_wall: float | None = None
        self._state = LinkStateCode.STARTING
        self._last_cut = float("-inf")

    def add_report(self, report: FrameReportSample, now: float | None = None) -> None:
        """Add one report; ``now`` is the local clock used for staleness."""
        if report.bytes < 0 or report.receive_time < 0:
            raise ValueError("report with negative bytes or time")
        self._reports.append(report)
        self._last_report_wall = report.receive_time if now is None else now
        self._trim(report.receive_time)

    def _trim(self, latest: float) -> None:
        horizon = latest - self.config.window_s
        while self._reports and self._reports[0].receive_time < horizon:
            self._reports.popleft()

    def _measure(self) -> tuple[float, float, float, float, float]:
        """Delivered rate (bps), median delay (ms), delay trend (ms/s), loss, queue (ms).

        The queue is the mean of the last three delays above the window's minimum.
        """
        reps = list(self._reports)
        recv = np.array([r.receive_time for r in reps])
        delay_ms = np.array([(r.receive_time - r.send_time) * 1e3 for r in reps])
        span = max(float(recv.max() - recv.min()), 1.0 / self.config.frame_rate)
        # bytes of all but the first report arrived within the span
        delivered = 8.0 * sum(r.bytes for r in reps[1:]) / span if len(reps) > 1 else 0.0
        trend = 0.0
        if len(reps) >= 3 and float(recv.max() - recv.min()) > 0:
            trend = float(np.polyfit(recv - recv[0], delay_ms, 1)[0])  # ms per s
        seqs = [r.sequence for r in reps]
        expected = max(seqs) - min(seqs) + 1
        loss = max(0.0, 1.0 - len(set(seqs)) / expected) if expected > 0 else 0.0
        queue = float(np.mean(delay_ms[-3:]) - delay_ms.min())
        return delivered, float(np.median(delay_ms)), trend, loss, queue

    def estimate(self, now: float) -> LinkEstimate:
        """Update the rate controller to time ``now`` (seconds) and return the estimate."""
        cfg = self.config
        dt = 0.0 if self._last_update is None else max(0.0, now - self._last_update)
        self._last_update = now
        stale = (self._last_report_wall is None
                 or now - self._last_report_wall > cfg.stale_after_s)
        n = len(self._reports)
        delivered = delay = trend = loss = 0.0
        if self._last_report_wall is not None and stale:
            # Silence: a dead link, or one so congested that nothing gets through.
            # Halve the estimate per stale_after_s of silence (down to min_bps, the
            # semantic layer) so smaller frames can get through if the link lives.
            if self._state != LinkStateCode.STALE:
                self._estimate_bps *= 0.5
            self._estimate_bps *= 0.5 ** (dt / cfg.stale_after_s)
            self._state = LinkStateCode.STALE
            self._reports.clear()
            n = 0
        elif n < cfg.min_reports:
            if self._state != LinkStateCode.STALE or n > 0:
                self._state = LinkStateCode.STARTING
        else:
            delivered, delay, trend, loss, queue = self._measure()
            if trend > cfg.overuse_trend_ms_per_s and queue > cfg.overuse_queue_ms:
                # cut on entering over-use, and again each overuse_recut_s while it lasts,
                # to what got through but never below half: while a queue drains the
                # delivered rate under-reads the capacity
                if (self._state != LinkStateCode.OVERUSE
                        or now - self._last_cut >= cfg.overuse_recut_s):
                    self._estimate_bps = max(cfg.decrease_factor * delivered,
                                             0.5 * self._estimate_bps)
                    self._last_cut = now
                self._state = LinkStateCode.OVERUSE
            elif loss > cfg.loss_high:
                self._estimate_bps *= 1.0 - 0.5 * loss * min(1.0, dt)
                self._state = LinkStateCode.LOSS
            elif trend < -cfg.overuse_trend_ms_per_s:
                self._state = LinkStateCode.UNDERUSE  # queue draining: hold
            else:
                if loss < cfg.loss_low:
                    self._estimate_bps *= (1.0 + cfg.increase_per_s) ** dt
                self._state = LinkStateCode.NORMAL
            # never run far ahead of what the link has shown it can carry
            if delivered > 0:
                self._estimate_bps = min(self._estimate_bps, max(2.0 * delivered, cfg.initial_bps))
        self._estimate_bps = float(np.clip(self._estimate_bps, cfg.min_bps, cfg.max_bps))
        frame_bytes = int(self._estimate_bps * cfg.headroom / 8.0 / cfg.frame_rate)
        frame_bytes = int(np.clip(frame_bytes, cfg.min_frame_bytes, cfg.max_frame_bytes))
        return LinkEstimate(
            estimated_throughput_bps=self._estimate_bps,
            delivered_rate_bps=delivered,
            one_way_delay_ms=delay,
            delay_trend_ms_per_s=trend,
            loss_fraction=loss,
            recommended_frame_bytes=frame_bytes,
            recommended_frame_rate=cfg.frame_rate,
            state=self._state,
            window_reports=n,
        )
