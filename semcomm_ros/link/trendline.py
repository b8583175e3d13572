"""GCC's delay-gradient over-use detector: trendline filter + adaptive threshold.

After draft-ietf-rmcat-gcc-02 (sections 5.3-5.4) as implemented in WebRTC's
``trendline_estimator.cc``. One *group* here is one frame (a frame leaves the
robot as one burst, and the receiver reports its arrival). For each frame
after the first:

    d_i   = (t_i - t_{i-1}) - (T_i - T_{i-1})     # inter-group delay variation
    acc  += d_i                                     # accumulated delay (offset-free)
    s     = alpha * s + (1 - alpha) * acc           # smoothed (alpha 0.6 per frame: GCC's
                                                    # 0.9 is per 5 ms packet group)
    slope = least squares of s over arrival time (last ``window`` points)
    m     = min(n_deltas, 60) * slope * gain        # "modified trend", ms

``m`` is compared with an adaptive threshold ``gamma``
(``gamma += dt * k * (|m| - gamma)``, ``k_up`` when ``|m| > gamma``, ``k_down``
otherwise, integrated exactly over the frame interval, clamped to [6, 600] ms,
not adapted when ``|m| > gamma + 15``): over
the threshold for more than ``overusing_time_ms`` (and two groups) with a
non-decreasing slope is OVERUSING; under ``-gamma`` is UNDERUSING. A constant
clock offset between sender and receiver cancels in ``d_i``.
"""
from __future__ import annotations

import enum
from collections import deque

import numpy as np


class Usage(enum.IntEnum):
    """Bandwidth usage hypothesis of the detector."""

    NORMAL = 0
    OVERUSING = 1
    UNDERUSING = 2


class TrendlineDetector:
    """Feed frame (send, receive) times in ms with :meth:`update`; read :attr:`usage`."""

    def __init__(self, window: int = 20, smoothing: float = 0.6, gain: float = 4.0,
                 k_up: float = 0.0087, k_down: float = 0.039,
                 initial_threshold_ms: float = 12.5, overusing_time_ms: float = 10.0) -> None:
        self.window, self.smoothing, self.gain = window, smoothing, gain
        self.k_up, self.k_down = k_up, k_down
        self.initial_threshold_ms = initial_threshold_ms
        self.overusing_time_ms = overusing_time_ms
        self.reset()

    def reset(self) -> None:
        """Forget everything (after an outage the old delays mean nothing)."""
        self.threshold_ms = self.initial_threshold_ms
        self.usage = Usage.NORMAL
        self.slope = 0.0          # ms of delay per ms of time
        self.modified_trend = 0.0  # ms
        self._points: deque[tuple[float, float]] = deque()
        self._acc = self._smoothed = 0.0
        self._n = 0
        self._first_arrival: float | None = None
        self._prev: tuple[float, float] | None = None  # (send_ms, recv_ms)
        self._time_over = -1.0
        self._over_count = 0
        self._prev_slope = 0.0
        self._last_threshold_update: float | None = None

    def update(self, send_ms: float, recv_ms: float) -> Usage:
        """One frame arrived (sender and receiver clocks, ms); returns the usage."""
        if self._prev is None:
            self._prev = (send_ms, recv_ms)
            self._first_arrival = recv_ms
            return self.usage
        send_delta = send_ms - self._prev[0]
        recv_delta = recv_ms - self._prev[1]
        self._prev = (send_ms, recv_ms)
        self._n = min(self._n + 1, 1000)
        self._acc += recv_delta - send_delta
        self._smoothed = self.smoothing * self._smoothed + (1 - self.smoothing) * self._acc
        self._points.append((recv_ms - self._first_arrival, self._smoothed))
        while len(self._points) > self.window:
            self._points.popleft()
        if len(self._points) >= min(self.window, 5):
            xs = np.array([p[0] for p in self._points])
            ys = np.array([p[1] for p in self._points])
            var = float(((xs - xs.mean()) ** 2).sum())
            if var > 0:
                self.slope = float(((xs - xs.mean()) * (ys - ys.mean())).sum() / var)
            self._detect(max(send_delta, 0.0), recv_ms)
        return self.usage

    def _detect(self, ts_delta_ms: float, now_ms: float) -> None:
        m = min(self._n, 60) * self.slope * self.gain
        self.modified_trend = m
        if m > self.threshold_ms:
            if self._time_over == -1:
                self._time_over = ts_delta_ms / 2
            else:
                self._time_over += ts_delta_ms
            self._over_count += 1
            if self._time_over > self.overusing_time_ms and self._over_count > 1:
                if self.slope >= self._prev_slope:
                    self._time_over, self._over_count = 0.0, 0
                    self.usage = Usage.OVERUSING
        elif m < -self.threshold_ms:
            self._time_over, self._over_count = -1.0, 0
            self.usage = Usage.UNDERUSING
        else:
            self._time_over, self._over_count = -1.0, 0
            self.usage = Usage.NORMAL
        self._prev_slope = self.slope
        self._adapt_threshold(m, now_ms)

    def _adapt_threshold(self, m: float, now_ms: float) -> None:
        if self._last_threshold_update is None:
            self._last_threshold_update = now_ms
        if abs(m) > self.threshold_ms + 15.0:  # a real spike: do not chase it
            self._last_threshold_update = now_ms
            return
        k = self.k_down if abs(m) < self.threshold_ms else self.k_up
        dt = min(now_ms - self._last_threshold_update, 100.0)
        # GCC's Euler step gamma += k (|m| - gamma) dt is unstable at frame intervals
        # (k_down x 100 ms = 3.9): integrate the same first-order law exactly
        w = 1.0 - float(np.exp(-k * dt))
        self.threshold_ms = float(np.clip(self.threshold_ms + w * (abs(m) - self.threshold_ms),
                                          6.0, 600.0))
        self._last_threshold_update = now_ms
