"""LinkEstimator on synthetic receiver-report traces (no closed loop: see test_simulate)."""
import math

import pytest

from semcomm_ros.config import ConfigError
from semcomm_ros.link import FrameReportSample, LinkConfig, LinkEstimator, LinkStateCode


class Feed:
    """Frames of a given size through a FIFO bottleneck; reports go to the estimator."""

    def __init__(self, est, fps=10.0, base_delay=0.03, offset=0.0):
        self.est, self.fps, self.base, self.offset = est, fps, base_delay, offset
        self.t, self.seq, self.link_free = 100.0, 0, 0.0
        self.last = None

    def run(self, seconds, frame_bytes, rate_bps, drop=lambda seq: False, jitter=lambda seq: 0.0):
        for _ in range(int(round(seconds * self.fps))):
            start = max(self.t, self.link_free)
            self.link_free = start + 8.0 * frame_bytes / rate_bps
            # + up to 1.2 ms of deterministic noise: no exact ties on window edges
            arrive = self.link_free + self.base + jitter(self.seq) + 1e-4 * (self.seq * 7919 % 13)
            if not drop(self.seq):
                self.est.add_report(FrameReportSample(
                    self.seq, frame_bytes, self.t, arrive + self.offset), now=arrive + self.offset)
            self.t += 1.0 / self.fps
            self.seq += 1
            self.last = self.est.estimate(self.t + self.offset)
        return self.last

    def silence(self, seconds):
        for _ in range(int(round(seconds * self.fps))):
            self.t += 1.0 / self.fps
            self.seq += 1
            self.last = self.est.estimate(self.t + self.offset)
        return self.last


def test_starts_in_starting_state_with_initial_target():
    cfg = LinkConfig(initial_bps=800_000, frame_rate=10)
    e = LinkEstimator(cfg).estimate(0.0)
    assert e.state == LinkStateCode.STARTING
    assert e.estimated_throughput_bps == 800_000
    assert e.recommended_frame_bytes == int(800_000 * cfg.headroom / 8 / 10)
    assert e.seconds_since_report == -1.0


def test_app_limited_link_probes_but_the_target_stays_near_what_is_delivered():
    """A sender that does not fill its budget (4.5 kB frames: 360 kbit/s) on a 4 Mbit/s link.

    The estimator probes (the link may carry more), but it cannot learn the link from an
    app-limited sender: the target stays within probe_gain x the delivered rate instead of
    running up to max_bps (measured before this bound: 3-50 Mbit/s targets in the demo).
    """
    cfg = LinkConfig(initial_bps=400_000)
    est = LinkEstimator(cfg)
    f = Feed(est)
    f.run(1.0, 4500, 4e6)
    last = f.run(3.0, 4500, 4e6)  # the sender keeps its frames: app-limited, no queue
    assert last.state == LinkStateCode.PROBING
    assert last.estimated_throughput_bps <= cfg.probe_gain * 360_000 * 1.1
    assert last.estimated_throughput_bps >= 400_000  # the bound never cuts the target
    assert last.delivered_rate_bps == pytest.approx(360_000, rel=0.1)
    assert last.one_way_delay_ms == pytest.approx(30 + 9, abs=2)  # base + serialization
    assert last.loss_fraction == 0.0
    assert last.recommended_frame_rate == pytest.approx(10.0, rel=0.01)


def test_probing_follows_a_sender_that_fills_its_budget():
    """Each frame fills the recommended budget: the target and the frames grow.

    They grow until the link's 4 Mbit/s shows as a queue; from 400 kbit/s in a few seconds.
    """
    est = LinkEstimator(LinkConfig(initial_bps=400_000))
    f = Feed(est)
    seen = []
    for _ in range(60):
        e = f.run(0.1, f.last.recommended_frame_bytes if f.last else 4750, 4e6)
        seen.append(e.estimated_throughput_bps)
    assert max(seen[:30]) >= 3.2e6  # within 3 s: x8 from the start
    assert 0.6 * 4e6 <= seen[-1] <= 1.3 * 4e6


def test_sending_over_capacity_is_overuse_and_cuts_to_delivered():
    est = LinkEstimator(LinkConfig(initial_bps=2_000_000))
    f = Feed(est)
    f.run(2.0, 20_000, 2e6)  # 1.6 Mbit/s into 2 Mbit/s: fine
    before = est.estimate(f.t).estimated_throughput_bps
    states = []
    for _ in range(20):  # 2.0 Mbit/s into 1.0 Mbit/s: a queue builds
        states.append(f.run(0.1, 25_000, 1e6).state)
    assert LinkStateCode.OVERUSE in states
    last = f.last
    assert last.estimated_throughput_bps < 0.6 * before
    # GCC: cut to 0.85 x what got through (the link rate)
    assert last.estimated_throughput_bps == pytest.approx(0.85 * 1e6, rel=0.15)
    assert last.capacity_bps == pytest.approx(1e6, rel=0.15)
    assert last.queue_delay_ms > 15


def test_heavy_loss_cuts_and_keeps_capacity():
    est = LinkEstimator(LinkConfig(initial_bps=1_000_000))
    f = Feed(est)
    f.run(3.0, 10_000, 2e6)
    before = est.estimate(f.t)
    cap = before.capacity_bps
    last = f.run(1.5, 10_000, 2e6, drop=lambda s: s % 3 == 0)  # 33 % frames lost, no queue
    assert last.state == LinkStateCode.LOSS
    assert last.loss_fraction > 0.2
    # GCC: target x (1 - 0.5 loss) per cut
    assert last.estimated_throughput_bps < 0.9 * before.estimated_throughput_bps
    assert last.capacity_bps >= 0.95 * cap  # random loss: capacity not forgotten
    after = f.run(3.0, 10_000, 2e6)  # loss over: back to the capacity at once
    assert after.state != LinkStateCode.LOSS
    assert after.estimated_throughput_bps >= 0.95 * cap


def test_outage_holds_capacity_and_resumes_at_once():
    cfg = LinkConfig(initial_bps=1_000_000)
    est = LinkEstimator(cfg)
    f = Feed(est)
    f.run(2.0, 14_000, 1e6)
    for _ in range(6):  # saturate: the max filter sees the link rate
        f.run(0.5, 14_000, 1e6)
    cap = est.estimate(f.t).capacity_bps
    assert cap == pytest.approx(1e6, rel=0.2)
    held = [f.silence(0.1) for _ in range(100)]  # 10 s without any report
    stale = [e for e in held if e.state == LinkStateCode.STALE]
    assert len(stale) >= 85  # STALE within ~1 s of the last arrival
    assert stale[0].capacity_bps == pytest.approx(cap, rel=0.02)
    assert all(e.capacity_bps == stale[0].capacity_bps for e in stale)  # held: no decay
    assert all(e.estimated_throughput_bps == cfg.min_bps for e in stale)  # keep-alive
    assert all(e.recommended_frame_bytes == cfg.min_frame_bytes for e in stale)
    assert stale[-1].seconds_since_report > 9.0
    f.link_free = f.t
    first = f.run(0.1, 120, 1e6)  # a keep-alive gets through: resume
    assert first.state != LinkStateCode.STALE
    assert first.estimated_throughput_bps >= 0.9 * cap


def test_short_silence_resumes_lower():
    """Silence that ends within outage_min_s: frames at the held rate did not fit."""
    est = LinkEstimator(LinkConfig(initial_bps=1_000_000))
    f = Feed(est)
    for _ in range(8):
        f.run(0.5, 11_000, 1e6)
    cap = est.estimate(f.t).capacity_bps
    f.silence(0.8)
    assert f.last.state == LinkStateCode.STALE
    f.link_free = f.t
    back = f.run(0.1, 120, 1e6)
    assert back.estimated_throughput_bps < 0.5 * cap
    f.silence(0.8)  # again within resume_guard_s: lower still
    f.link_free = f.t
    again = f.run(0.1, 120, 1e6)
    assert again.estimated_throughput_bps < 0.5 * back.estimated_throughput_bps


@pytest.mark.parametrize("offset", [-50.0, 1234.567])
def test_clock_offset_invariance(offset):
    def trace(off):
        est = LinkEstimator(LinkConfig(initial_bps=1_000_000))
        f = Feed(est, offset=off)
        out = [f.run(1.0, 12_000, 2e6), f.run(2.0, 30_000, 1e6), f.run(2.0, 5_000, 1e6)]
        f.silence(1.0)
        f.link_free = f.t
        out.append(f.run(1.0, 5_000, 1e6))
        return [(e.state, e.estimated_throughput_bps, e.capacity_bps) for e in out]

    for (s0, t0, c0), (s1, t1, c1) in zip(trace(0.0), trace(offset)):
        assert s0 == s1
        assert t0 == pytest.approx(t1, rel=1e-6)
        assert c0 == pytest.approx(c1, rel=1e-6)


def test_bad_reports_rejected():
    est = LinkEstimator()
    for bad in (FrameReportSample(1, -5, 1.0, 1.1), FrameReportSample(1, 5, math.nan, 1.1),
                FrameReportSample(1, 5, 1.0, math.inf), FrameReportSample(-1, 5, 1.0, 1.1),
                FrameReportSample(1, 5, -1.0, 1.1)):
        with pytest.raises(ValueError):
            est.add_report(bad)
    assert est.add_report(FrameReportSample(7, 500, 10.0, 10.05))
    assert not est.add_report(FrameReportSample(7, 500, 10.0, 10.05))  # duplicate
    assert not est.add_report(FrameReportSample(8, 500, 5.0, 5.05))    # far out of order
    assert est.estimate(10.1).window_reports == 1


def test_sender_restart_resets_sequence_tracking():
    est = LinkEstimator()
    f = Feed(est)
    f.run(2.0, 5_000, 2e6)
    f.seq = 0  # encoder restarted: numbering starts over
    last = f.run(1.0, 5_000, 2e6)
    assert last.loss_fraction == 0.0


@pytest.mark.parametrize("kwargs", [
    {"window_s": 0}, {"min_bps": 0}, {"initial_bps": 1e9}, {"decrease_factor": 1.0},
    {"loss_low": 0.2, "loss_high": 0.1}, {"headroom": 0.0}, {"min_frame_bytes": 0},
    {"restale_factor": 1.0}, {"probe_hold_ratio": 0.9}, {"trendline_window": 2},
    {"cruise_gain": 0}, {"outage_min_s": -1},
])
def test_invalid_config_rejected(kwargs):
    with pytest.raises(ConfigError):
        LinkConfig(**kwargs).validate()


def test_a_loss_at_a_low_frame_rate_cuts_once():
    """At 5 frames/s two lost frames are 20 % of the 2 s window for 2 s: one cut.

    One loss event, one cut (before: a cut every cut_interval_s while they stayed in the
    window).
    """
    est = LinkEstimator(LinkConfig(initial_bps=1_000_000))
    f = Feed(est, fps=5.0)
    f.run(4.0, 20_000, 1e6)
    before = f.last.estimated_throughput_bps
    lost = f.seq + 2
    targets = [f.run(0.2, 20_000, 1e6, drop=lambda s: s in (lost, lost + 1))
               .estimated_throughput_bps for _ in range(15)]
    cuts = sum(1 for a, b in zip([before] + targets, targets) if b < 0.97 * a)
    assert cuts == 1, targets
    assert min(targets) >= 0.85 * before  # (1 - 0.5 x ~0.2)


def test_normal_growth_stops_near_the_capacity_then_probes():
    """Near the last congestion point the target grows at most to max_normal_gain x capacity.

    Held there without congestion, it probes (PROBING) after probe_interval_s.
    """
    cfg = LinkConfig(initial_bps=1_000_000)
    est = LinkEstimator(cfg)
    f = Feed(est)
    f.run(3.0, 12_000, 1e6)  # 0.96 Mbit/s into 1 Mbit/s: a queue, a cut
    states = []
    for _ in range(40):  # the sender keeps 10 kB frames (0.8 Mbit/s): no congestion
        e = f.run(0.1, 10_000, 1e6)
        states.append(e.state)
        if e.state == LinkStateCode.NORMAL:
            assert e.estimated_throughput_bps <= cfg.max_normal_gain * e.capacity_bps * 1.01
    assert LinkStateCode.PROBING in states


def test_a_sender_restart_does_not_silence_later_cuts():
    """After a restart of the sender's numbering, the next congestion still cuts.

    The over-use was at sequence ~1500, the encoder restarts at 0: the one-cut-per-window
    bookkeeping starts over too.
    """
    est = LinkEstimator(LinkConfig(initial_bps=2_000_000))
    f = Feed(est)
    f.run(148.0, 10_000, 2e6)           # 0.8 Mbit/s into 2 Mbit/s: steady
    for _ in range(20):                 # 2.4 Mbit/s: a queue builds, a cut
        f.run(0.1, 30_000, 2e6)
    assert f.seq > 1000
    f.run(3.0, 5_000, 2e6)              # the queue drains
    f.seq = 0                           # encoder restarted: numbering starts over
    f.run(2.0, 10_000, 2e6)
    before = f.last.estimated_throughput_bps
    states = [f.run(0.1, 30_000, 2e6).state for _ in range(30)]
    assert LinkStateCode.OVERUSE in states
    assert f.last.estimated_throughput_bps < 0.9 * before
