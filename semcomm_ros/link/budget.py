"""The encoder's per-frame byte budget from the link monitor's LinkState (no ROS inside).

The link monitor says what rate the sender should use (``LinkState.
estimated_throughput_bps``); the encoder turns it into a byte budget for each
camera frame it codes:

* **budget = target rate x headroom / measured camera rate.** The camera rate is
  an exponential moving average of the intervals between camera frames as they
  reach the encoder (a median of the first intervals until ``camera_rate_alpha``
  takes over; a gap longer than ``max_camera_gap_s`` is a pause, not a sample), so
  a 15 Hz camera or one that drops frames gets the budget that fills the link,
  whatever rate is configured.
* **Frame-rate reduction** below a floor: when the budget at the camera rate falls
  under ``min_frame_bytes``, the encoder codes fewer frames (down to
  ``min_frame_rate_hz``) so each coded frame gets ``min_frame_bytes``. Above the
  floor the codec's own temporal scalability (a still split over frames, skips)
  decides how to spend thin budgets; it also sends the semantic layer every frame.
* **LinkState timeout**: no LinkState for ``link_timeout_s`` (the base station or the
  reverse path is gone): the configured safe budget ``timeout_budget_bytes``.
* **Keep-alive while the link is dead** (LinkState says STALE): a semantics-only
  frame (``keepalive_budget_bytes``: the codec fits the semantic layer alone) at
  ``keepalive_rate_hz``; it is what brings the first reports back when the link
  returns. As soon as LinkState leaves STALE the budget follows its target again
  (the estimator holds the last capacity through an outage: fast resume).
* **A frame fits the bottleneck queue**: at most ``max_frame_time_s`` of link time at the
  target rate. A frame leaves as one burst of datagrams; one larger than the bottleneck
  queue loses a fragment, and a lost fragment loses the whole sample.
* **Unanswered frames**: the encoder hears the FrameReports too. Frames sent with no
  report back for ``report_timeout_s`` mean the link carries none of them (say the
  estimator's start-up guess is above a thin link, and every frame overflows its queue:
  the estimator, with no report, cannot know). The budget then halves every
  ``report_timeout_s`` (down to the keep-alive budget) until reports come back, and
  stays scaled down until the estimator has measured the link (a LinkState that is
  neither STARTING nor STALE after a report came back).
* **Pacing** (frame level): a token bucket filled at ``pacing_factor`` x the target
  rate, at most ``pacing_burst_s`` of it; a frame is coded only when the bucket is
  not in debt, and the bytes it used are taken out. Frames never leave faster than
  the link drains them on average, so a camera burst or a budget that lags a rate
  fall cannot pile frames into the bottleneck queue; late frames are skipped, not
  queued (a stale frame is worthless to an operator).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from semcomm_ros.config import ConfigError, describe
from semcomm_ros.link.estimator import LinkStateCode

# LinkState.estimator_state values the budget reacts to: STARTING (no report yet: the target
# is a guess), STALE ("no reports: link presumed dead"), PROBING (the estimator offers more
# than the capacity on purpose, and bounds that itself)
STATE_STARTING = LinkStateCode.STARTING
STATE_STALE = LinkStateCode.STALE
STATE_PROBING = LinkStateCode.PROBING


class BudgetMode(enum.Enum):
    """Where the budget of a frame came from."""

    FIXED = "fixed"            # use_link_state false: default_budget_bytes
    STARTUP = "startup"        # no LinkState yet: default_budget_bytes
    LINK = "link"              # target rate / camera rate
    REDUCED = "reduced_rate"   # LINK below the floor: fewer frames, min_frame_bytes each
    KEEPALIVE = "keepalive"    # link dead (STALE): semantics only, keepalive_rate_hz
    TIMEOUT = "timeout"        # no LinkState for link_timeout_s: timeout_budget_bytes


@dataclass
class BudgetConfig:
    """How the encoder turns LinkState into per-frame byte budgets."""

    headroom: float = field(default=0.95, metadata=describe(
        "Fraction of LinkState's target rate given to frame payload (the rest: RTPS/UDP/IP "
        "headers, ~3-4 % at 1500-byte IP fragments); the codec itself fills 93-97 % of a budget"))
    camera_rate_alpha: float = field(default=0.1, metadata=describe(
        "Weight of a new camera interval in the camera-rate average (EMA); over the first "
        "1/alpha intervals the median of them and the initial guess"))
    initial_camera_rate_hz: float = field(default=10.0, metadata=describe(
        "Camera rate assumed until two camera frames have arrived, frames/s"))
    max_camera_gap_s: float = field(default=1.0, metadata=describe(
        "A camera interval longer than this is a pause, not a rate sample, seconds"))
    link_timeout_s: float = field(default=2.0, metadata=describe(
        "No LinkState for this long: the safe budget timeout_budget_bytes (WARN in "
        "diagnostics), seconds"))
    timeout_budget_bytes: int = field(default=1000, metadata=describe(
        "Per-frame budget while LinkState has timed out (safe on a thin link)"))
    keepalive_rate_hz: float = field(default=2.0, metadata=describe(
        "Frames per second while LinkState says the link is dead (STALE): a frame must "
        "reach the base station soon after the link returns, for the loop to resume"))
    keepalive_budget_bytes: int = field(default=100, metadata=describe(
        "Per-frame budget of keep-alive frames: the codec then sends the semantic layer "
        "(~60-100 B, minor objects shed to fit; the auto coder may fill the last few bytes "
        "with a sliver of a still split over frames)"))
    min_frame_bytes: int = field(default=400, metadata=describe(
        "Frame-rate reduction floor: below this budget per frame at the camera rate, code "
        "fewer frames so each gets this much (above it the codec's temporal scalability "
        "spends thin budgets: still split over frames, skips)"))
    min_frame_rate_hz: float = field(default=1.0, metadata=describe(
        "Lowest coded frame rate of frame-rate reduction, frames/s (below it frames get "
        "smaller instead)"))
    report_timeout_s: float = field(default=1.0, metadata=describe(
        "Frames sent and no FrameReport back for this long: the link carries none of them; "
        "the budget halves every report_timeout_s until reports return (0: off)"))
    max_frame_time_s: float = field(default=0.25, metadata=describe(
        "A frame may be at most this much link time at the target rate (0: no bound): a "
        "frame leaves as one burst, and one larger than the bottleneck queue (tc tbf "
        "latency 300 ms here) loses a fragment and so the whole sample (measured: 50 kB "
        "frames on 1 Mbit/s, 0 of 20 delivered). Bounds the budget at slow camera rates"))
    max_capacity_ratio: float = field(default=1.25, metadata=describe(
        "Never budget for more than this x LinkState.capacity_bps (the rate the link has "
        "shown it carries), whatever the target says: a guard against a runaway estimate "
        "filling the bottleneck queue (BBR probes at 1.25 x its bottleneck estimate); "
        "not while the estimator is PROBING, which bounds its own target at "
        "link.probe_gain x capacity; 0: off"))
    pacing_factor: float = field(default=1.3, metadata=describe(
        "Pacer: token-bucket rate as a multiple of the target rate (0: no pacing); a frame "
        "is coded only when the bucket is not in debt"))
    pacing_burst_s: float = field(default=0.5, metadata=describe(
        "Pacer: bucket depth, seconds of the pacing rate (at least one frame's budget)"))

    def validate(self) -> None:
        """Raise ConfigError on impossible values."""
        if not 0 < self.headroom <= 1:
            raise ConfigError("budget.headroom must be in (0, 1]")
        if not 0 < self.camera_rate_alpha <= 1:
            raise ConfigError("budget.camera_rate_alpha must be in (0, 1]")
        for name in ("initial_camera_rate_hz", "max_camera_gap_s", "link_timeout_s",
                     "keepalive_rate_hz", "min_frame_rate_hz", "pacing_burst_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"budget.{name} must be > 0")
        for name in ("timeout_budget_bytes", "keepalive_budget_bytes", "min_frame_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"budget.{name} must be >= 1")
        if self.max_frame_time_s < 0 or self.report_timeout_s < 0:
            raise ConfigError("budget.max_frame_time_s and report_timeout_s must be >= 0")
        if self.max_capacity_ratio != 0 and self.max_capacity_ratio < 1:
            raise ConfigError("budget.max_capacity_ratio must be 0 (off) or >= 1")
        if self.pacing_factor != 0 and self.pacing_factor < 1:
            raise ConfigError("budget.pacing_factor must be 0 (off) or >= 1")


class CameraRate:
    """Camera frame rate from arrival times: EMA of intervals, robust to jitter and gaps.

    Averaging intervals (not instantaneous rates) keeps the mean right under jitter: a
    frame that comes late makes the next one early. Until 1/alpha intervals are in, the
    interval is the median of those seen and the initial guess (one prior sample), so a
    burst among the first frames (a driver or player catching up) does not set the rate.
    """

    def __init__(self, alpha: float, initial_hz: float, max_gap_s: float) -> None:
        """Nothing measured yet: ``initial_hz``."""
        self.alpha, self.initial_hz, self.max_gap_s = alpha, initial_hz, max_gap_s
        self._last: float | None = None
        self._interval: float | None = None
        self._first: list[float] = []
        self.samples = 0

    def update(self, now: float) -> float:
        """A camera frame arrived at ``now`` (seconds); returns the rate, frames/s."""
        if self._last is not None:
            dt = now - self._last
            if 0 < dt <= self.max_gap_s:
                self.samples += 1
                if self.samples < 1.0 / self.alpha:
                    self._first.append(dt)
                    ordered = sorted([1.0 / self.initial_hz, *self._first])
                    mid = len(ordered) // 2
                    self._interval = ordered[mid] if len(ordered) % 2 else \
                        0.5 * (ordered[mid - 1] + ordered[mid])
                else:
                    self._interval = (1 - self.alpha) * self._interval + self.alpha * dt
        self._last = now
        return self.rate_hz

    @property
    def rate_hz(self) -> float:
        """Current estimate, frames/s."""
        return self.initial_hz if self._interval is None else 1.0 / self._interval


class Pacer:
    """Token bucket in bytes: a frame may go when the bucket is not in debt."""

    def __init__(self) -> None:
        """Full (no debt) at the first refill."""
        self.tokens: float | None = None
        self._last: float | None = None

    def refill(self, now: float, rate_bytes_s: float, depth_bytes: float) -> float:
        """Add tokens up to ``now``; returns the tokens (negative: debt)."""
        if self.tokens is None or self._last is None:
            self.tokens = depth_bytes
        else:
            self.tokens = min(depth_bytes,
                              self.tokens + rate_bytes_s * max(0.0, now - self._last))
        self._last = now
        return self.tokens

    def spend(self, nbytes: int) -> None:
        """A frame of ``nbytes`` left."""
        if self.tokens is not None:
            self.tokens -= nbytes

    def reset(self) -> None:
        """Forget the debt (after an outage or a timeout the link queue has drained)."""
        self.tokens = None


@dataclass(frozen=True)
class BudgetDecision:
    """What to do with one camera frame."""

    send: bool                 # code and publish this frame (false: skip it)
    budget_bytes: int          # byte budget for the frame (when sent)
    mode: BudgetMode
    camera_rate_hz: float      # measured camera rate
    coded_rate_hz: float       # rate at which frames are coded in this mode
    target_bps: float          # LinkState's target rate (0 when not following it)
    reason: str = ""           # why the frame is skipped, or what the mode means


class BudgetController:
    """Feed :meth:`on_link_state` and :meth:`on_camera_frame`; report :meth:`sent` frames.

    Times are seconds on one local monotonic clock.
    """

    def __init__(self, config: BudgetConfig | None = None, default_budget_bytes: int = 6000,
                 max_budget_bytes: int = 200_000, use_link_state: bool = True) -> None:
        """Budget policy from ``config``; ``default_budget_bytes`` before any LinkState."""
        self.configure(config or BudgetConfig(), default_budget_bytes, max_budget_bytes,
                       use_link_state)
        self.camera = CameraRate(self.config.camera_rate_alpha,
                                 self.config.initial_camera_rate_hz,
                                 self.config.max_camera_gap_s)
        self.pacer = Pacer()
        self.target_bps: float | None = None
        self.link_state: int | None = None
        self.last_link_time: float | None = None
        self.last_sent: float | None = None
        self._camera_time = 0.0
        self.unanswered_since: float | None = None  # first frame sent since the last report
        self.scale = 1.0  # unanswered-frames back-off
        self._halved_at: float | None = None
        self._report_since_halving = False
        self.last_mode: BudgetMode | None = None
        self.skipped = {"reduced_rate": 0, "keepalive": 0, "paced": 0}

    def configure(self, config: BudgetConfig, default_budget_bytes: int, max_budget_bytes: int,
                  use_link_state: bool) -> None:
        """New settings (live parameter change); measurements are kept."""
        config.validate()
        self.config = config
        self.default_budget = int(default_budget_bytes)
        self.max_budget = int(max_budget_bytes)
        self.use_link_state = use_link_state
        if hasattr(self, "camera"):
            self.camera.alpha = config.camera_rate_alpha
            self.camera.max_gap_s = config.max_camera_gap_s
            self.camera.initial_hz = config.initial_camera_rate_hz

    def on_link_state(self, now: float, target_bps: float, state: int,
                      capacity_bps: float | None = None) -> None:
        """A LinkState arrived: the rate the sender should use and the estimator state.

        ``capacity_bps`` (when the estimator gives one) bounds the target at
        ``max_capacity_ratio`` x.
        """
        if not math.isfinite(target_bps) or target_bps < 0:
            return
        ratio = self.config.max_capacity_ratio
        if ratio > 0 and capacity_bps is not None and math.isfinite(capacity_bps) \
                and capacity_bps > 0 and state != STATE_PROBING:
            target_bps = min(target_bps, ratio * capacity_bps)
        was = self.mode_at(now)
        self.target_bps, self.link_state, self.last_link_time = float(target_bps), int(state), now
        if self.scale < 1 and self._report_since_halving \
                and state not in (STATE_STARTING, STATE_STALE):
            self.scale = 1.0  # the estimator has measured the link since the back-off
        if was in (BudgetMode.KEEPALIVE, BudgetMode.TIMEOUT) and state != STATE_STALE:
            self.pacer.reset()  # resume at once: the queue drained during the outage
        if was is BudgetMode.KEEPALIVE and state != STATE_STALE:
            self.on_report(now)  # the estimator left STALE: reports are back

    def mode_at(self, now: float) -> BudgetMode:
        """The budget mode at ``now`` (before frame-rate reduction)."""
        if not self.use_link_state:
            return BudgetMode.FIXED
        if self.last_link_time is None:
            return BudgetMode.STARTUP
        if now - self.last_link_time > self.config.link_timeout_s:
            return BudgetMode.TIMEOUT
        if self.link_state == STATE_STALE:
            return BudgetMode.KEEPALIVE
        return BudgetMode.LINK

    def _clamp(self, nbytes: float) -> int:
        return int(max(1, min(round(nbytes), self.max_budget)))

    def _due(self, now: float, rate_hz: float, camera_hz: float) -> bool:
        """Frame decimation: has 1/rate passed since the last sent frame?

        Less half a camera period, so that 10 Hz decimated to 5 Hz sends every other frame.
        """
        if self.last_sent is None or now < self.last_sent:  # (a replayed bag starts over)
            return True
        return now - self.last_sent >= 1.0 / rate_hz - 0.5 / camera_hz

    def on_camera_frame(self, now: float, stamp: float | None = None) -> BudgetDecision:
        """A camera frame arrived at ``now``: code it (with which budget) or skip it.

        ``stamp`` is the frame's capture time (header stamp, seconds) when there is one:
        the camera rate and frame decimation then follow the camera's own clock, not the
        moment the executor got round to the frame.
        """
        cfg = self.config
        cam_t = now if stamp is None else stamp
        self._camera_time = cam_t
        fps = self.camera.update(cam_t)
        mode = self.mode_at(now)
        self.last_mode = mode
        if mode is BudgetMode.FIXED:
            return BudgetDecision(True, self._clamp(self.default_budget), mode, fps, fps, 0.0)
        if mode is BudgetMode.STARTUP:
            return BudgetDecision(True, self._clamp(self._back_off(now, self.default_budget)),
                                  mode, fps, fps, 0.0, "no LinkState yet")
        if mode is BudgetMode.TIMEOUT:
            age = now - (self.last_link_time or now)
            return BudgetDecision(True, self._clamp(self._back_off(now, cfg.timeout_budget_bytes)),
                                  mode, fps, fps, 0.0, f"no LinkState for {age:.1f} s: safe budget")
        target = self.target_bps or 0.0
        if mode is BudgetMode.KEEPALIVE:
            rate = min(cfg.keepalive_rate_hz, fps)
            if not self._due(cam_t, rate, fps):
                self.skipped["keepalive"] += 1
                return BudgetDecision(False, 0, mode, fps, rate, target, "link dead: keep-alive")
            return BudgetDecision(True, self._clamp(cfg.keepalive_budget_bytes), mode, fps, rate,
                                  target, "link dead: semantics-only keep-alive")
        payload = target * cfg.headroom / 8.0  # bytes/s
        rate, reason = fps, ""
        if payload / fps < cfg.min_frame_bytes:
            mode = BudgetMode.REDUCED
            rate = min(fps, max(cfg.min_frame_rate_hz, payload / cfg.min_frame_bytes))
            reason = f"{target / 1e3:.0f} kbit/s: {rate:.2g} of {fps:.2g} frames/s coded"
            self.last_mode = mode
            if not self._due(cam_t, rate, fps):
                self.skipped["reduced_rate"] += 1
                return BudgetDecision(False, 0, mode, fps, rate, target, reason)
        per_frame = payload / rate
        if cfg.max_frame_time_s > 0 and per_frame > payload * cfg.max_frame_time_s:
            per_frame = max(payload * cfg.max_frame_time_s, min(per_frame, cfg.min_frame_bytes))
            reason = reason or (f"frame capped at {cfg.max_frame_time_s:g} s of the link "
                                f"({rate:.2g} frames/s)")
        per_frame = self._back_off(now, per_frame)
        budget = self._clamp(per_frame)
        if cfg.pacing_factor > 0:
            pace = cfg.pacing_factor * target / 8.0
            tokens = self.pacer.refill(now, pace, max(pace * cfg.pacing_burst_s, budget))
            if tokens < 0:
                self.skipped["paced"] += 1
                return BudgetDecision(False, 0, mode, fps, rate, target,
                                      f"paced: {-tokens:.0f} B in debt")
        return BudgetDecision(True, budget, mode, fps, rate, target, reason)

    def _back_off(self, now: float, budget: float) -> float:
        """``budget`` scaled down while frames go unanswered (see the module docstring)."""
        timeout = self.config.report_timeout_s
        if timeout > 0 and self.unanswered_since is not None \
                and now - self.unanswered_since >= timeout \
                and (self._halved_at is None or now - self._halved_at >= timeout):
            self.scale *= 0.5
            self._halved_at = now
            self._report_since_halving = False
        if self.scale >= 1:
            return budget
        return max(budget * self.scale, min(budget, self.config.keepalive_budget_bytes))

    def on_report(self, now: float) -> None:
        """A FrameReport came back: the link carries frames."""
        self.unanswered_since = None
        self._halved_at = None
        self._report_since_halving = True

    def sent(self, now: float, nbytes: int) -> None:
        """The frame of the last decision was coded into ``nbytes`` and published at ``now``."""
        self.last_sent = self._camera_time
        if self.unanswered_since is None and self.last_mode is not BudgetMode.KEEPALIVE:
            self.unanswered_since = now  # (keep-alives on a dead link go unanswered)
        if self.last_mode in (BudgetMode.LINK, BudgetMode.REDUCED):
            self.pacer.spend(nbytes)
