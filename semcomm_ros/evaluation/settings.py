"""What one evaluation run feeds the encoder: fixed budgets, or a bandwidth trace.

A *setting* names one replay of a bag: ``100kbps`` (a fixed link rate, every frame
gets ``rate / frame rate`` bytes, as ``semcomm bench codec`` budgets) or
``trace-<name>`` (the rate follows a ``time_s,rate_kbit`` trace file from the bag's
first frame, and the encoder's own budget policy, :class:`BudgetController`, turns
it into per-frame budgets, frame-rate reduction, keep-alive during outages and
pacing, with the link monitor assumed exact: LinkState = the trace's rate).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from semcomm_ros.link.budget import STATE_STALE, BudgetConfig, BudgetController
from semcomm_ros.link.estimator import LinkStateCode

#: the state the replayed link monitor reports while the trace has a rate: NORMAL (any
#: state but STARTING and STALE lets the budget follow the target)
STATE_STEADY = LinkStateCode.NORMAL


@dataclass
class Setting:
    """A fixed rate (``kbps``) or a trace (``points``: (t s, kbit/s), from the first frame)."""

    name: str
    kbps: float | None = None
    points: list[tuple[float, int]] = field(default_factory=list)
    trace_file: str = ""

    @property
    def is_trace(self) -> bool:
        """Whether the rate follows a trace."""
        return self.kbps is None


def fixed(kbps: float) -> Setting:
    """A fixed link rate, kbit/s."""
    if kbps <= 0:
        raise ValueError(f"budget {kbps} kbit/s must be > 0")
    return Setting(f"{kbps:g}kbps", kbps=float(kbps))


def from_trace(path: str) -> Setting:
    """A bandwidth trace file (``semcomm_ros.bench.link_traces.load_trace`` format)."""
    from pathlib import Path

    from semcomm_ros.bench.link_traces import load_trace

    trace = load_trace(path)
    return Setting(f"trace-{Path(path).stem}", points=list(trace.points), trace_file=str(path))


def rate_at(points: list[tuple[float, int]], t: float) -> int:
    """The trace's rate (kbit/s) at ``t`` seconds (its first rate before the start)."""
    from semcomm_ros.bench.link_traces import capacity_at

    return capacity_at(points, t)


class Budgets:
    """Per-frame decisions for one setting: ``decide(t) -> (send, budget bytes, kbit/s)``.

    ``t`` is the frame's capture time in seconds from the bag's first frame; ``fps``
    the evaluated frame rate. Fixed: every frame is sent with ``kbps * 1000 / 8 /
    fps`` bytes. Trace: the encoder's BudgetController, fed LinkState = the trace
    rate (STALE while it is 0) and a FrameReport for every frame sent (an exact
    link monitor, an ideal return path).
    """

    def __init__(self, setting: Setting, fps: float, budget_cfg: BudgetConfig | None = None,
                 max_budget_bytes: int = 200_000) -> None:
        self.setting = setting
        self.fps = fps
        self.controller = None
        self._send = False
        if setting.is_trace:
            self.controller = BudgetController(budget_cfg or BudgetConfig(),
                                               default_budget_bytes=1000,
                                               max_budget_bytes=max_budget_bytes)

    def decide(self, t: float) -> tuple[bool, int, float]:
        """Whether frame at ``t`` is coded, with which budget, and the link rate then."""
        if self.controller is None:
            kbps = float(self.setting.kbps)
            return True, max(1, int(kbps * 1000 / 8 / self.fps)), kbps
        kbps = rate_at(self.setting.points, t)
        state = STATE_STALE if kbps == 0 else STATE_STEADY
        self.controller.on_link_state(t, kbps * 1000.0, state, kbps * 1000.0 or None)
        d = self.controller.on_camera_frame(t, stamp=t)
        self._send = d.send
        return d.send, d.budget_bytes, float(kbps)

    def sent(self, t: float, nbytes: int, delivered: bool) -> None:
        """The frame decided at ``t`` went out as ``nbytes``; its report comes back if delivered.

        Nothing happens when the last decision was to skip the frame.
        """
        if self.controller is not None and self._send:
            self.controller.sent(t, nbytes)
            if delivered:
                self.controller.on_report(t)
