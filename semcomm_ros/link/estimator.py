"""Link congestion control from receiver-side frame reports: GCC + BBR.

The base station reports every frame it receives (sequence, bytes, send stamp,
receive stamp; robot and base clocks may differ by a constant). From these
reports alone the estimator decides the rate the robot should send at
(``target``, published as ``LinkState.estimated_throughput_bps``) and keeps a
capacity estimate (``capacity``, ``LinkState.capacity_bps``). Sources:

* **Delay gradient** (GCC, draft-ietf-rmcat-gcc-02 5.3-5.4; WebRTC
  ``trendline_estimator.cc``): :class:`~semcomm_ros.link.trendline.TrendlineDetector`
  on per-frame inter-arrival deltas, adaptive threshold -> over-use / normal /
  under-use. Over-use (with a queue actually above the base delay) cuts the
  target to ``decrease_factor`` (0.85, GCC's beta) x the delivered rate.
* **Loss** (GCC 6): loss > ``loss_high`` (10 %) cuts ``target *= 1 - 0.5 loss``;
  the target may grow only under ``loss_low`` (2 %).
* **Delivered-rate max filter** (BBR's BtlBw): every report gives a delivery
  sample, bytes over ``max(send span, receive span)`` of the last few frames (the
  max() keeps receive-side jitter from inflating a sample); the capacity is the
  windowed max over ``capacity_window_s``, reset to the delivered rate on a
  congestion event. A sample whose receive span exceeds its send span is
  *bottlenecked* (the link, not the sender, set its rate).
* **Probing** (BBR startup / GCC increase): after a cut and its drain the target returns
  at once to ``cruise_gain`` x capacity, holds ``cruise_hold_s``, then grows slowly
  (``increase_per_s``, GCC's 8 %/s near the last congestion point). With no congestion
  point known (start), or once the delivered rate has stayed above ``probe_hold_ratio`` x
  the rate at the last over-use for ``probe_wait_s`` (the link has grown), or after
  ``probe_interval_s`` at the ``max_normal_gain`` x capacity bound, PROBING grows the
  target by ``probe_increase_per_s`` until the delay or the delivery samples say the
  link is full, never above ``probe_gain`` x capacity (an app-limited sender, whose
  codec needs less than its budget, cannot run the target away).
* **Standing queue**: the least delay of the last three frames above the base delay over
  ``max_queue_ms`` is congestion whatever the trend says (low frame rates). One cut per
  window: frames in flight when a cut was made do not cut again, by delay or by loss.
* **STALE** (no report for ``stale_after_s``, or ``stale_intervals`` frame
  intervals if longer): the target drops to ``min_bps`` (keep-alive) but the
  capacity is *held*; the first report after the silence resumes at
  ``cruise_gain`` x the held capacity at once. A silence that comes back within
  ``resume_guard_s`` of a resume (the held rate no longer fits: frames too big to
  cross) resumes lower each time (``restale_factor``).

States (LinkState.STATE_*): STARTING, PROBING, NORMAL (cruise/hold), OVERUSE,
DRAINING (= UNDERUSE: queue draining, hold), LOSS, STALE.
"""
from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from semcomm_ros.config import ConfigError, describe
from semcomm_ros.link.trendline import TrendlineDetector, Usage


class LinkStateCode(enum.IntEnum):
    """Estimator states; values match LinkState.msg's STATE_* constants."""

    STARTING = 0
    NORMAL = 1
    OVERUSE = 2
    DRAINING = 3  # a queue drains (after a cut, or the delay falls): hold
    LOSS = 4
    STALE = 5
    PROBING = 6

    UNDERUSE = 3  # alias of DRAINING (LinkState.STATE_UNDERUSE)


@dataclass
class LinkConfig:
    """Parameters of the link estimator (GCC delay gradient + loss, BBR max filter)."""

    window_s: float = field(default=2.0, metadata=describe(
        "Sliding window of reports for delivered rate, delay median, loss and frame rate, seconds"))
    min_reports: int = field(default=5, metadata=describe(
        "Reports needed before leaving the STARTING state"))
    initial_bps: float = field(default=1_000_000.0, metadata=describe(
        "Target rate before any estimate (STARTING), bits/s; probing starts from it"))
    min_bps: float = field(default=50_000.0, metadata=describe(
        "Lower bound of the target; the keep-alive target while STALE, bits/s"))
    max_bps: float = field(default=50_000_000.0, metadata=describe(
        "Upper bound of target and capacity, bits/s"))
    decrease_factor: float = field(default=0.85, metadata=describe(
        "On over-use, target = factor x delivered rate (GCC beta: 0.85)"))
    overuse_queue_ms: float = field(default=15.0, metadata=describe(
        "Over-use also needs the latest delay this far above the base (min) delay, ms "
        "(filters jitter from busy hosts: a real queue has built up)"))
    max_queue_ms: float = field(default=100.0, metadata=describe(
        "A standing queue above this (the least delay of the last three frames above the "
        "base delay) is congestion whatever the delay trend says, ms (LEDBAT-like target queue). "
        "At low frame rates a frame is a large share of the bottleneck queue, and the trend "
        "of a few frames a second lags the queue by several frames"))
    cut_interval_s: float = field(default=0.5, metadata=describe(
        "At most one cut (over-use or loss) per this many seconds (about a feedback round trip)"))
    trendline_window: int = field(default=20, metadata=describe(
        "Frames in the trendline regression (GCC/WebRTC: 20 packet groups)"))
    trendline_gain: float = field(default=4.0, metadata=describe(
        "Trendline threshold gain (GCC/WebRTC: 4)"))
    loss_high: float = field(default=0.10, metadata=describe(
        "Loss fraction above which the target is cut by (1 - 0.5 loss) (GCC: 10 %)"))
    loss_low: float = field(default=0.02, metadata=describe(
        "Loss fraction below which the target may grow (GCC: 2 %)"))
    capacity_window_s: float = field(default=4.0, metadata=describe(
        "Window of the delivered-rate max filter (BBR BtlBw filter), seconds"))
    base_delay_window_s: float = field(default=2.0, metadata=describe(
        "Window of the minimum one-way delay the queue delay is measured from, seconds (short: "
        "a frame's own transmission time grows with the rate and is not a queue)"))
    cruise_gain: float = field(default=1.05, metadata=describe(
        "After a cut and its drain the target returns at once to gain x capacity (the "
        "encoder's headroom and the codec's 93-97 % fill keep the bytes on the wire below it)"))
    cruise_hold_s: float = field(default=1.0, metadata=describe(
        "After a cut, hold the cruise target this long before increasing again, seconds "
        "(BBR's cruise phase: fewer cuts, a shorter queue)"))
    max_normal_gain: float = field(default=1.08, metadata=describe(
        "Near the last congestion point the slow growth stops at this x the capacity "
        "estimate (on the wire ~1.07 x: budget headroom and codec fill): at a few frames a "
        "second each frame is a large share of the bottleneck queue, and a few frames sent "
        "above the link rate overflow it; growth of the link itself shows as delivered rate "
        "above the last congestion point and starts PROBING"))
    probe_interval_s: float = field(default=1.0, metadata=describe(
        "Held at max_normal_gain x capacity this long without congestion: probe (PROBING) "
        "for more, seconds (BBR probes for bandwidth every few round trips)"))
    increase_per_s: float = field(default=0.08, metadata=describe(
        "Growth of the target per second near the capacity estimate (GCC: 8 %/s)"))
    probe_increase_per_s: float = field(default=1.5, metadata=describe(
        "Growth per second while PROBING (no congestion at probe_hold_ratio for probe_wait_s, "
        "or at start: the link may have grown): exponential, x2.5/s, bounded by probe_gain "
        "x capacity (the delivered rate sets the pace, as in BBR startup)"))
    probe_gain: float = field(default=1.35, metadata=describe(
        "While PROBING the target is at most gain x the capacity estimate (the delivered-rate "
        "max filter): the sender offers at most this much more than the link has shown it "
        "carries, so a sender that does not fill its budget (app-limited) cannot run the "
        "target up to max_bps, and each feedback round can raise the measured rate by up to "
        "the gain (BBR startup: 2/ln 2)"))
    probe_hold_ratio: float = field(default=1.05, metadata=describe(
        "Near the last congestion point the target grows slowly (increase_per_s); once the "
        "delivered rate exceeds this x the delivered rate at the last over-use for "
        "probe_wait_s, the link has grown: PROBING"))
    probe_wait_s: float = field(default=0.5, metadata=describe(
        "See probe_hold_ratio, seconds"))
    max_drain_s: float = field(default=1.0, metadata=describe(
        "Longest hold (DRAINING) after a cut while the queue drains, seconds"))
    stale_after_s: float = field(default=0.5, metadata=describe(
        "No report for this long (or stale_intervals frame intervals, if longer): link presumed "
        "dead (STALE); capacity is held for a fast resume, target = min_bps"))
    stale_intervals: float = field(default=4.0, metadata=describe(
        "STALE also needs this many measured frame intervals without a report"))
    outage_min_s: float = field(default=2.0, metadata=describe(
        "A silence at least this long was an outage: resume at the held capacity; a shorter "
        "one that ends (keep-alives get through) means frames at the held rate no longer fit "
        "the link: resume at restale_factor x held"))
    resume_guard_s: float = field(default=3.0, metadata=describe(
        "A new silence within this many seconds of a resume: the next resume starts lower "
        "still (restale_factor again)"))
    restale_factor: float = field(default=0.35, metadata=describe(
        "Held capacity multiplier after a short silence, per repeat (see outage_min_s)"))
    frame_rate: float = field(default=10.0, metadata=describe(
        "Frame rate assumed until the send stamps give one, frames/s"))
    headroom: float = field(default=0.95, metadata=describe(
        "recommended_frame_bytes = target x headroom / 8 / frame rate (the rest: framing)"))
    min_frame_bytes: int = field(default=300, metadata=describe(
        "Smallest per-frame budget recommended (semantic layer only)"))
    max_frame_bytes: int = field(default=500_000, metadata=describe(
        "Largest per-frame budget recommended"))

    def validate(self) -> None:
        """Raise ConfigError on inconsistent values."""
        positive = ("window_s", "stale_after_s", "frame_rate", "capacity_window_s",
                    "base_delay_window_s", "cut_interval_s", "increase_per_s", "cruise_hold_s",
                    "probe_increase_per_s", "max_drain_s", "stale_intervals",
                    "trendline_gain", "cruise_gain", "max_queue_ms", "max_normal_gain",
                    "probe_interval_s")
        if self.probe_gain < 1:
            raise ConfigError("link: probe_gain must be >= 1")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"link: {name} must be > 0")
        if self.min_reports < 1 or self.trendline_window < 5:
            raise ConfigError("link: min_reports >= 1, trendline_window >= 5")
        if not 0 < self.min_bps <= self.initial_bps <= self.max_bps:
            raise ConfigError("link: need 0 < min_bps <= initial_bps <= max_bps")
        if not 0 < self.decrease_factor < 1 or not 0 < self.headroom <= 1:
            raise ConfigError("link: decrease_factor in (0,1), headroom in (0,1]")
        if self.outage_min_s < 0 or self.resume_guard_s < 0:
            raise ConfigError("link: outage_min_s and resume_guard_s must be >= 0")
        if not 0 < self.restale_factor < 1:
            raise ConfigError("link: restale_factor in (0,1)")
        if self.probe_hold_ratio < 1 or self.probe_wait_s < 0:
            raise ConfigError("link: probe_hold_ratio >= 1 and probe_wait_s >= 0")
        if not 0 <= self.loss_low < self.loss_high <= 1:
            raise ConfigError("link: need 0 <= loss_low < loss_high <= 1")
        if not 0 < self.min_frame_bytes <= self.max_frame_bytes:
            raise ConfigError("link: need 0 < min_frame_bytes <= max_frame_bytes")


@dataclass(frozen=True)
class FrameReportSample:
    """One receiver report, times in seconds (sender and receiver clocks)."""

    sequence: int
    bytes: int
    send_time: float
    receive_time: float


@dataclass(frozen=True)
class LinkEstimate:
    """What the estimator believes about the link now."""

    estimated_throughput_bps: float  # the target: rate the sender should use
    delivered_rate_bps: float
    one_way_delay_ms: float
    delay_trend_ms_per_s: float
    loss_fraction: float
    recommended_frame_bytes: int
    recommended_frame_rate: float
    state: LinkStateCode
    window_reports: int
    capacity_bps: float = 0.0
    queue_delay_ms: float = 0.0
    overuse_signal_ms: float = 0.0
    overuse_threshold_ms: float = 0.0
    seconds_since_report: float = -1.0

    @property
    def target_bps(self) -> float:
        """Alias of estimated_throughput_bps."""
        return self.estimated_throughput_bps


@dataclass
class _Sample:
    time: float          # receive time
    rate: float          # bits/s
    bottlenecked: bool   # the receive span exceeded the send span


class LinkEstimator:
    """Feed reports with :meth:`add_report`, read :meth:`estimate` periodically."""

    SAMPLE_FRAMES = 3      # delivery sample over this many frame intervals
    SEND_BOUND = 1.2       # a sample is at most this x the send rate of its frames
    BOTTLENECK_RATIO = 1.1  # receive span / send span above this: the link set the rate

    def __init__(self, config: LinkConfig | None = None) -> None:
        self.config = config or LinkConfig()
        self.config.validate()
        cfg = self.config
        self.trend = TrendlineDetector(window=cfg.trendline_window, gain=cfg.trendline_gain)
        self._reports: deque[FrameReportSample] = deque()
        self._recent: deque[FrameReportSample] = deque(maxlen=self.SAMPLE_FRAMES + 1)
        self._samples: deque[_Sample] = deque()       # max filter
        self._delays: deque[tuple[float, float]] = deque()  # (receive time, delay s): base delay
        self._target = cfg.initial_bps
        self._capacity_floor = 0.0  # seeded capacity after a reset / resume
        self._capacity_floor_time = float("-inf")
        self._state = LinkStateCode.STARTING
        self._last_update: float | None = None
        self._last_report_local: float | None = None
        self._last_receive: float | None = None
        self._last_seq: int | None = None
        self._seen: deque[int] = deque(maxlen=64)
        self._count = 0  # reports since start / resume
        self._last_cut = float("-inf")
        self._count_at_cut = -1  # reports seen at the last over-use cut
        self._seq_at_overuse = -10  # newest sequence reported at the last over-use cut
        self._newest_lost = -1  # newest sequence known lost
        self._lost_at_cut = -1  # ... at the last loss cut
        self._resume_pending = False
        self._resume_time: float | None = None
        self._restales = 0
        self._held = 0.0
        self._stale_since: float | None = None
        self._congestion_rate: float | None = None  # delivered rate at the last over-use
        self._cruise_since = float("-inf")
        self._hold_since = float("-inf")
        self._bound_since = float("inf")
        self._delivered = 0.0
        self._standing_ms = 0.0
        self._last_est: LinkEstimate | None = None

    # ---------------------------------------------------------------- reports
    def add_report(self, report: FrameReportSample, now: float | None = None) -> bool:
        """Add one report; ``now`` is the local clock used for staleness.

        Raises ValueError on a report that cannot be true (negative or non-finite
        values); returns False (ignored) for a duplicate or a stale out-of-order report.
        """
        values = (report.bytes, report.send_time, report.receive_time)
        if not all(math.isfinite(v) for v in values) or report.bytes < 0 or report.sequence < 0:
            raise ValueError("report with negative or non-finite bytes, time or sequence")
        if report.receive_time < 0 or report.send_time < 0:
            raise ValueError("report with a negative time")
        if report.sequence in self._seen:
            return False
        if self._last_receive is not None and report.receive_time < self._last_receive - 1.0:
            return False  # far out of order: not a fresh arrival
        if self._last_seq is not None and report.sequence + 1000 < self._last_seq:
            self._restart_sequence()  # the sender restarted its numbering
        self._seen.append(report.sequence)
        self._last_report_local = report.receive_time if now is None else now
        if self._state == LinkStateCode.STALE:
            self._resume_pending = True
            self._forget_path()
        in_order = (self._last_seq is None or report.sequence > self._last_seq) and (
            self._last_receive is None or report.receive_time >= self._last_receive)
        self._reports.append(report)
        self._count += 1
        # a frame's own serialization time at the capacity is not queueing: a bigger frame
        # arrives later without any queue (GCC sees packets; we see whole frames)
        ser = self._serialization(report.bytes)
        if in_order:
            self.trend.update((report.send_time + ser) * 1e3, report.receive_time * 1e3)
            self._recent.append(report)
            self._delivery_sample()
        self._last_seq = report.sequence if self._last_seq is None else max(
            self._last_seq, report.sequence)
        self._last_receive = max(report.receive_time, self._last_receive or report.receive_time)
        self._delays.append((report.receive_time, report.receive_time - report.send_time - ser))
        self._trim(report.receive_time)
        return True

    def _serialization(self, nbytes: int) -> float:
        """Seconds a frame of nbytes takes at the capacity estimate.

        (Never at less than the target: frames are sized for the target, and a capacity
        estimate below it may come from an app-limited sender, e.g. the small frames of a
        start-up back-off; a too-low rate would turn a frame's size into a fake queue.)
        """
        rate = max(self.capacity(), self._target)
        return 8.0 * nbytes / rate if rate > 0 else 0.0

    def _restart_sequence(self) -> None:
        self._reports.clear()
        self._recent.clear()
        self._seen.clear()
        self._last_seq = None
        # sequence numbers kept for "one cut per window" refer to the old numbering
        self._seq_at_overuse, self._newest_lost, self._lost_at_cut = -10, -1, -1

    def _forget_path(self) -> None:
        """After a silence: old delays, rates and sequence numbers mean nothing."""
        self.trend.reset()
        self._reports.clear()
        self._recent.clear()
        self._samples.clear()
        self._delays.clear()
        self._last_seq = None
        self._count = 0

    def _delivery_sample(self) -> None:
        if len(self._recent) < 2:
            return
        first, last = self._recent[0], self._recent[-1]
        recv_span = last.receive_time - first.receive_time
        send_span = last.send_time - first.send_time
        # receive-based (a draining queue shows the link rate), but never above
        # SEND_BOUND x the send rate: a late receive stamp (busy host) must not inflate it
        span = max(recv_span, send_span / self.SEND_BOUND)
        if span <= 0:
            return
        bits = 8.0 * sum(r.bytes for r in list(self._recent)[1:])
        self._samples.append(_Sample(last.receive_time, bits / span,
                                     recv_span > self.BOTTLENECK_RATIO * max(send_span, 1e-6)))

    def _trim(self, latest: float) -> None:
        cfg = self.config
        while self._reports and self._reports[0].receive_time < latest - cfg.window_s:
            self._reports.popleft()
        while self._samples and self._samples[0].time < latest - cfg.capacity_window_s:
            self._samples.popleft()
        while self._delays and self._delays[0][0] < latest - cfg.base_delay_window_s:
            self._delays.popleft()

    # ------------------------------------------------------------ measurement
    def capacity(self) -> float:
        """Windowed max of the delivery samples (or the seeded value after a reset)."""
        best = max((s.rate for s in self._samples), default=0.0)
        if self._last_receive is not None and (
                self._last_receive - self._capacity_floor_time < self.config.capacity_window_s):
            best = max(best, self._capacity_floor)
        return best

    def _reset_capacity(self, rate: float, now_receive: float | None) -> None:
        self._samples.clear()
        self._capacity_floor = rate
        self._capacity_floor_time = now_receive if now_receive is not None else 0.0

    def _frame_rate(self) -> float:
        reps = sorted(self._reports, key=lambda r: r.sequence)
        steps = [(b.send_time - a.send_time) / (b.sequence - a.sequence)
                 for a, b in zip(reps, reps[1:]) if b.sequence > a.sequence]
        steps = [s for s in steps if s > 0]
        if len(steps) < 3:
            return self.config.frame_rate
        return float(np.clip(1.0 / float(np.median(steps)), 0.2, 240.0))

    def _measure(self) -> tuple[float, float, float, float]:
        """Delivered rate (bps), median delay (ms), loss, queue delay (ms)."""
        reps = list(self._reports)
        if not reps:
            return 0.0, 0.0, 0.0, 0.0
        recv = [r.receive_time for r in reps]
        send = [r.send_time for r in reps]
        span = max(max(recv) - min(recv), max(send) - min(send))
        delivered = 0.0
        if len(reps) > 1 and span > 0:
            delivered = 8.0 * sum(r.bytes for r in reps[1:]) / span
        delays = [r.receive_time - r.send_time for r in reps]  # one_way_delay_ms: as measured
        seqs = [r.sequence for r in reps]
        expected = max(seqs) - min(seqs) + 1
        got = set(seqs)
        loss = max(0.0, 1.0 - len(got) / expected)
        self._newest_lost = max((q for q in range(min(seqs), max(seqs)) if q not in got),
                                default=self._newest_lost)
        base = min(d for _, d in self._delays) if self._delays else min(delays)
        latest = [d for _, d in list(self._delays)[-2:]]
        queue = max(0.0, (min(latest) - base) * 1e3) if latest else 0.0
        last3 = [d for _, d in list(self._delays)[-3:]]
        # a standing queue: every one of the last three frames waited (one or two late
        # receive stamps from a busy host are not a queue)
        self._standing_ms = max(0.0, (min(last3) - base) * 1e3) if len(last3) == 3 else 0.0
        return delivered, float(np.median(delays)) * 1e3, loss, queue

    def _bottlenecked(self, k: int = 2) -> bool:
        last = list(self._samples)[-k:]
        return len(last) == k and all(s.bottlenecked for s in last)

    def _last_rate(self) -> float:
        return self._samples[-1].rate if self._samples else 0.0

    # --------------------------------------------------------------- control
    def _stale_timeout(self) -> float:
        cfg = self.config
        fps = self._frame_rate() if self._reports else cfg.frame_rate
        return max(cfg.stale_after_s, cfg.stale_intervals / fps)

    def estimate(self, now: float) -> LinkEstimate:
        """Update the rate controller to time ``now`` (local clock, s) and return the estimate."""
        cfg = self.config
        dt = 0.0 if self._last_update is None else max(0.0, now - self._last_update)
        self._last_update = now
        silence = None if self._last_report_local is None else now - self._last_report_local
        delivered = delay = loss = queue = 0.0
        if self._resume_pending:
            self._resume(now)
        if silence is not None and silence > self._stale_timeout():
            if self._state != LinkStateCode.STALE:
                self._enter_stale(now)
            self._target = cfg.min_bps
        elif self._state == LinkStateCode.STARTING and self._count < cfg.min_reports:
            self._target = cfg.initial_bps
        else:
            delivered, delay, loss, queue = self._measure()
            self._delivered = delivered
            self._control(now, dt, loss, queue)
        self._target = float(np.clip(self._target, cfg.min_bps, cfg.max_bps))
        return self._report(now, silence, delivered, delay, loss, queue)

    def _enter_stale(self, now: float) -> None:
        cfg = self.config
        if self._resume_time is not None and now - self._resume_time < cfg.resume_guard_s:
            self._restales += 1
        else:
            self._restales = 0
            self._held = self.capacity() or (
                self._target if self._state != LinkStateCode.STARTING else 0.0)
        self._state = LinkStateCode.STALE
        self._stale_since = self._last_report_local

    def _resume(self, now: float) -> None:
        """First report after a silence: back to the held capacity at once."""
        cfg = self.config
        self._resume_pending = False
        short = self._stale_since is not None and now - self._stale_since < cfg.outage_min_s
        held = self._held * cfg.restale_factor ** (self._restales + (1 if short else 0))
        if held <= 0:
            held = cfg.initial_bps
        held = float(np.clip(held, cfg.min_bps, cfg.max_bps))
        self._reset_capacity(held, self._last_receive)
        # after a short silence the resume rate is a guess below the old capacity, not a
        # congestion point: probe up from it (BBR restarts its startup after idle)
        self._congestion_rate = None if (short and not self._restales) else held
        self._target = cfg.cruise_gain * held
        self._resume_time = now
        self._state = LinkStateCode.NORMAL

    def _control(self, now: float, dt: float, loss: float, queue: float) -> None:
        cfg = self.config
        st = LinkStateCode
        usage = self.trend.usage
        capacity = self.capacity()
        if self._resume_time is not None and now - self._resume_time > cfg.resume_guard_s:
            self._restales = 0
        congested = self._standing_ms > cfg.max_queue_ms or (queue > cfg.overuse_queue_ms and (
            usage == Usage.OVERUSING or self._bottlenecked()))
        if congested:
            # a second cut needs reports of frames sent after the first one took effect:
            # the frames already in flight still arrive late, and are not new congestion
            # (TCP: one reduction per window)
            draining = self._last_seq is not None \
                and self._last_seq <= self._seq_at_overuse + self._in_flight()
            if (self._state != st.OVERUSE or now - self._last_cut >= cfg.cut_interval_s) \
                    and self._count != self._count_at_cut and not draining:
                self._count_at_cut = self._count
                self._seq_at_overuse = self._last_seq if self._last_seq is not None else -1
                rate = self._recent_rate() or capacity
                self._target = min(self._target, cfg.decrease_factor * rate)
                self._reset_capacity(rate, self._last_receive)
                self._congestion_rate = rate
                self._last_cut = now
            self._state = st.OVERUSE
            self._cruise_since = now  # the cruise hold counts from the cut
            return
        if loss > cfg.loss_high:
            # random loss (radio) says nothing of the capacity: keep what the link showed
            # before, so the target returns to it when the loss ends (a congested queue
            # also shows in the delay and resets the capacity above)
            if queue > cfg.overuse_queue_ms:  # tail drops of a full queue: congestion
                self._reset_capacity(self._recent_rate() or capacity, self._last_receive)
            else:
                self._reset_capacity(capacity, self._last_receive)
            # one cut per new loss: at a few frames a second one lost frame is 10-20 % of
            # the window for 2 s, and must not cut again and again
            if now - self._last_cut >= cfg.cut_interval_s \
                    and self._newest_lost != self._lost_at_cut \
                    and self._newest_lost > self._seq_at_overuse + self._in_flight():
                self._target *= 1.0 - 0.5 * loss
                self._last_cut = now
                self._lost_at_cut = self._newest_lost
            self._state = st.LOSS
            return
        if usage == Usage.UNDERUSING or (
                self._state in (st.OVERUSE, st.DRAINING)
                and queue > cfg.overuse_queue_ms and now - self._last_cut < cfg.max_drain_s):
            self._state = st.DRAINING  # hold while the queue drains
            return
        self._state = st.NORMAL
        if loss >= cfg.loss_low:
            return  # hold
        cruise = cfg.cruise_gain * capacity
        if self._target < cruise:
            # back to what the link has shown it carries (BBR); the cruise hold counts from
            # the last cut, not from here: a capacity that keeps rising (the link carries
            # more and more) must not keep the target from growing or probing
            self._target = cruise
        if now - self._cruise_since < cfg.cruise_hold_s:
            pass  # cruise a while after a cut before probing above the congestion point
        elif self._congestion_rate is None:
            self._probe(dt, capacity)
        else:
            # near the last congestion point: slow growth (GCC); once the link delivers
            # clearly more than it did then, it has grown: wait a little, then probe fast
            # ... and at most to max_normal_gain x capacity; held there without congestion
            # for probe_interval_s, probe anyway (BBR's periodic bandwidth probe)
            grown = self._target * (1.0 + cfg.increase_per_s) ** dt
            bound = cfg.max_normal_gain * capacity
            self._target = min(grown, max(bound, self._target))
            if self._target < bound:
                self._bound_since = now
            if self._delivered < cfg.probe_hold_ratio * self._congestion_rate:
                self._hold_since = now
            if now - self._hold_since >= cfg.probe_wait_s \
                    or now - self._bound_since >= cfg.probe_interval_s:
                self._congestion_rate = None
                self._state = st.PROBING

    def _probe(self, dt: float, capacity: float) -> None:
        """PROBING: grow the target, at most probe_gain x what the link has delivered."""
        cfg = self.config
        grown = self._target * (1.0 + cfg.probe_increase_per_s) ** dt
        bound = cfg.probe_gain * capacity if capacity > 0 else grown
        # the bound stops growth; it never cuts (the delivered rate of an app-limited sender,
        # e.g. keep-alives or the small frames of a back-off, says nothing of the link)
        self._target = min(grown, max(bound, self._target))
        self._state = LinkStateCode.PROBING

    def _in_flight(self) -> int:
        """Frames sent before a cut made now reaches the sender.

        A loss among them is the congestion already answered: a one-way delay, a frame
        interval and a LinkState period of frames, plus one.
        """
        fps = self._frame_rate() if self._reports else self.config.frame_rate
        delays = [d for _, d in self._delays]
        owd = max(0.0, float(np.median(delays)) - min(delays)) if delays else 0.0
        return int(math.ceil(fps * (owd + 0.1 + 1.0 / fps))) + 1

    def _recent_rate(self) -> float:
        """Max delivery sample of the last second: what the busy link just delivered.

        (GCC's incoming rate over 500 ms; a max, as a sample whose span held an idle
        moment under-reads the link; bottlenecked samples first, as app-limited ones, e.g.
        keep-alives just after a resume, show the sender's rate, not the link's.)
        """
        if not self._samples:
            return 0.0
        last = self._samples[-1].time
        recent = [s for s in self._samples if s.time >= last - 1.0]
        busy = [s.rate for s in recent if s.bottlenecked]  # the link set these rates
        return max(busy or [s.rate for s in recent])

    def _report(self, now: float, silence: float | None, delivered: float, delay: float,
                loss: float, queue: float) -> LinkEstimate:
        cfg = self.config
        fps = self._frame_rate() if self._reports else cfg.frame_rate
        if self._state == LinkStateCode.STALE:
            frame_bytes = cfg.min_frame_bytes
            capacity = self._held * cfg.restale_factor ** self._restales
        else:
            frame_bytes = int(self._target * cfg.headroom / 8.0 / fps)
            capacity = self.capacity() or self._target
        frame_bytes = int(np.clip(frame_bytes, cfg.min_frame_bytes, cfg.max_frame_bytes))
        est = LinkEstimate(
            estimated_throughput_bps=self._target,
            delivered_rate_bps=delivered,
            one_way_delay_ms=delay,
            delay_trend_ms_per_s=self.trend.slope * 1e3,
            loss_fraction=loss,
            recommended_frame_bytes=frame_bytes,
            recommended_frame_rate=fps,
            state=self._state,
            window_reports=len(self._reports) if self._state != LinkStateCode.STALE else 0,
            capacity_bps=float(min(capacity, cfg.max_bps)),
            queue_delay_ms=queue,
            overuse_signal_ms=self.trend.modified_trend,
            overuse_threshold_ms=self.trend.threshold_ms,
            seconds_since_report=-1.0 if silence is None else silence,
        )
        self._last_est = est
        return est
