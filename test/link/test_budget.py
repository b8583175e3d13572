"""The encoder's per-frame budget policy (semcomm_ros/link/budget.py), on synthetic timelines."""
import random

import pytest

from semcomm_ros.config import ConfigError
from semcomm_ros.link.budget import (
    STATE_STALE,
    BudgetConfig,
    BudgetController,
    BudgetMode,
    CameraRate,
)

NORMAL = 1


def run(ctl, t0, seconds, fps, link_bps=None, state=NORMAL, link_every=0.2, jitter=0.0,
        rng=None, frame_bytes=None, reports=True):
    """Camera frames at ``fps`` (optional jitter), LinkState every ``link_every`` s.

    Returns the decisions; sent frames are reported with ``frame_bytes`` (default: 95 % of
    the budget, as the codec does), and (``reports``) a FrameReport comes back for each.
    """
    rng = rng or random.Random(0)
    out, t, next_link = [], t0, t0
    end = t0 + seconds
    while t < end:
        while link_bps is not None and next_link <= t:
            ctl.on_link_state(next_link, link_bps, state)
            next_link += link_every
        now = t + (rng.uniform(-jitter, jitter) if jitter else 0.0)
        d = ctl.on_camera_frame(now)
        if d.send:
            ctl.sent(now, frame_bytes if frame_bytes is not None else int(0.95 * d.budget_bytes))
            if reports:
                ctl.on_report(now + 0.05)
        out.append(d)
        t += 1.0 / fps
    return out, t


def test_budget_is_target_times_headroom_over_measured_camera_rate():
    # the camera runs at 15 Hz, not the 10 Hz the configuration guesses
    ctl = BudgetController(BudgetConfig(initial_camera_rate_hz=10, headroom=0.9))
    ds, _ = run(ctl, 100.0, 5.0, 15, link_bps=1_200_000)
    last = ds[-1]
    assert last.mode is BudgetMode.LINK and last.send
    assert last.camera_rate_hz == pytest.approx(15, rel=0.01)
    assert last.budget_bytes == pytest.approx(1_200_000 * 0.9 / 8 / 15, rel=0.01)
    # every frame sent, and the budgets add up to target x headroom
    assert all(d.send for d in ds)


def test_camera_rate_robust_to_jitter_first_frames_and_gaps():
    rng = random.Random(3)
    cam = CameraRate(alpha=0.1, initial_hz=30, max_gap_s=1.0)
    assert cam.rate_hz == 30  # nothing measured yet
    cam.update(0.0)
    cam.update(0.003)  # a burst among the first frames (a player catching up)...
    for t in (0.2, 0.4, 0.6):
        rate = cam.update(t)
    assert rate == pytest.approx(1 / 0.197, rel=0.01)  # ...does not set the rate
    t = 0.6
    for _ in range(200):  # 5 Hz with +-80 ms jitter (a busy host)
        t += 0.2
        cam.update(t + rng.uniform(-0.08, 0.08))
    assert cam.rate_hz == pytest.approx(5.0, rel=0.1)
    cam.update(t + 10.0)  # the camera paused 10 s: not a rate sample
    assert cam.rate_hz == pytest.approx(5.0, rel=0.1)
    for i in range(1, 60):  # it comes back at 10 Hz: the average follows
        cam.update(t + 10.0 + i * 0.1)
    assert cam.rate_hz == pytest.approx(10.0, rel=0.1)


def test_startup_and_fixed_use_the_default_budget():
    ctl = BudgetController(BudgetConfig(), default_budget_bytes=3000)
    d = ctl.on_camera_frame(0.0)
    assert d.send and d.budget_bytes == 3000 and d.mode is BudgetMode.STARTUP
    fixed = BudgetController(BudgetConfig(), default_budget_bytes=3000, use_link_state=False)
    fixed.on_link_state(0.0, 5e6, NORMAL)
    d = fixed.on_camera_frame(0.1)
    assert d.budget_bytes == 3000 and d.mode is BudgetMode.FIXED


def test_linkstate_timeout_falls_back_to_safe_budget_and_recovers():
    cfg = BudgetConfig(link_timeout_s=2.0, timeout_budget_bytes=700)
    ctl = BudgetController(cfg)
    ds, t = run(ctl, 0.0, 3.0, 10, link_bps=2_000_000)
    assert ds[-1].mode is BudgetMode.LINK and ds[-1].budget_bytes > 20_000
    # LinkState stops (base station gone): 2 s later the safe budget, every frame
    ds, t = run(ctl, t, 4.0, 10, link_bps=None)
    modes = [d.mode for d in ds]
    assert modes[5] is BudgetMode.LINK  # within the timeout the last LinkState holds
    assert all(m is BudgetMode.TIMEOUT for m in modes[-15:])
    assert all(d.send and d.budget_bytes == 700 for d in ds[-15:])
    assert "no LinkState" in ds[-1].reason
    # LinkState returns: the next frame follows it again
    ctl.on_link_state(t, 2_000_000, NORMAL)
    d = ctl.on_camera_frame(t + 0.01)
    assert d.mode is BudgetMode.LINK and d.send and d.budget_bytes > 20_000


def test_keepalive_while_stale_then_fast_resume():
    cfg = BudgetConfig(keepalive_rate_hz=2.0, keepalive_budget_bytes=100)
    ctl = BudgetController(cfg)
    ds, t = run(ctl, 0.0, 3.0, 10, link_bps=1_000_000)
    normal_budget = ds[-1].budget_bytes
    # the link dies: the monitor says STALE (holding the last capacity)
    ds, t = run(ctl, t, 10.0, 10, link_bps=1_000_000, state=STATE_STALE, reports=False)
    sent = [d for d in ds if d.send]
    assert all(d.mode is BudgetMode.KEEPALIVE and d.budget_bytes == 100 for d in sent)
    assert len(sent) == pytest.approx(20, abs=2)  # 2 Hz of a 10 Hz camera, for 10 s
    # reports flow again: the very next frame is back at the last good budget
    ctl.on_link_state(t - 0.05, 1_000_000, NORMAL)
    d = ctl.on_camera_frame(t)  # (the next camera frame, on time)
    assert d.send and d.mode is BudgetMode.LINK
    assert d.budget_bytes == pytest.approx(normal_budget, abs=2)


def test_frame_rate_reduction_below_the_floor():
    cfg = BudgetConfig(min_frame_bytes=400, min_frame_rate_hz=1.0, headroom=1.0)
    ctl = BudgetController(cfg)
    # 16 kbit/s at 10 Hz = 200 B/frame < 400: code 5 frames/s of 400 B
    ds, _ = run(ctl, 0.0, 10.0, 10, link_bps=16_000)
    tail = ds[20:]
    sent = [d for d in tail if d.send]
    assert all(d.mode is BudgetMode.REDUCED for d in tail)
    assert len(sent) / 8.0 == pytest.approx(5.0, rel=0.1)
    assert all(d.budget_bytes == 400 for d in sent)
    assert "5 of 10 frames/s" in sent[-1].reason
    # the budget x coded rate still matches the target
    assert sent[-1].budget_bytes * 8 * sent[-1].coded_rate_hz == pytest.approx(16_000, rel=0.02)
    # 2 kbit/s: not below min_frame_rate_hz; frames get smaller instead
    ctl2 = BudgetController(cfg)
    ds, _ = run(ctl2, 0.0, 6.0, 10, link_bps=2_000)
    sent = [d for d in ds[20:] if d.send]
    assert len(sent) / 4.0 == pytest.approx(1.0, abs=0.3)
    assert sent[-1].budget_bytes == 250
    # above the floor nothing is skipped (the codec's temporal scalability decides)
    ctl3 = BudgetController(cfg)
    ds, _ = run(ctl3, 0.0, 5.0, 10, link_bps=40_000)
    assert all(d.send and d.mode is BudgetMode.LINK for d in ds)


def test_headroom_and_max_budget():
    ctl = BudgetController(BudgetConfig(headroom=0.8, max_frame_time_s=0),
                           max_budget_bytes=10_000)
    ds, _ = run(ctl, 0.0, 3.0, 10, link_bps=400_000)
    assert ds[-1].budget_bytes == 4000
    ds, _ = run(ctl, 3.0, 3.0, 10, link_bps=40_000_000)
    assert ds[-1].budget_bytes == 10_000


def test_pacer_skips_frames_of_a_camera_burst_instead_of_queueing_them():
    cfg = BudgetConfig(pacing_factor=1.3, pacing_burst_s=0.5, headroom=0.95)
    ctl = BudgetController(cfg)
    ds, t = run(ctl, 0.0, 3.0, 10, link_bps=800_000)
    assert all(d.send for d in ds)  # a steady camera never trips the pacer
    # a stalled camera driver delivers 30 queued frames at once
    ctl.on_link_state(t, 800_000, NORMAL)
    burst = []
    for i in range(30):
        d = ctl.on_camera_frame(t + i * 0.001)
        if d.send:
            ctl.sent(t + i * 0.001, d.budget_bytes)
        burst.append(d)
    sent_bytes = sum(d.budget_bytes for d in burst if d.send)
    # at most the bucket (0.5 s at 1.3x) plus one frame leaves; the rest is skipped
    assert sent_bytes <= 1.3 * 800_000 / 8 * 0.5 + max(d.budget_bytes for d in burst)
    assert ctl.skipped["paced"] > 0 and "paced" in burst[-1].reason
    # off: everything goes
    off = BudgetController(BudgetConfig(pacing_factor=0))
    run(off, 0.0, 1.0, 10, link_bps=800_000)
    assert all(off.on_camera_frame(1.0 + i * 0.001).send for i in range(30))


def test_long_run_budget_matches_target_under_jitter():
    ctl = BudgetController(BudgetConfig(headroom=0.95))
    ds, _ = run(ctl, 0.0, 60.0, 10, link_bps=1_000_000, jitter=0.04, rng=random.Random(1))
    sent = [d for d in ds[10:] if d.send]
    rate = sum(d.budget_bytes for d in sent) * 8 / 59.0
    assert rate == pytest.approx(950_000, rel=0.05)
    assert len(sent) >= 0.97 * len(ds[10:])  # jitter does not trip the pacer


def test_rejects_bad_config_and_bad_linkstate():
    with pytest.raises(ConfigError):
        BudgetController(BudgetConfig(headroom=0))
    with pytest.raises(ConfigError):
        BudgetController(BudgetConfig(pacing_factor=0.5))
    with pytest.raises(ConfigError):
        BudgetController(BudgetConfig(keepalive_budget_bytes=0))
    ctl = BudgetController(BudgetConfig())
    ctl.on_link_state(0.0, float("nan"), NORMAL)
    ctl.on_link_state(0.0, -5.0, NORMAL)
    assert ctl.on_camera_frame(0.1).mode is BudgetMode.STARTUP


def test_camera_rate_follows_capture_stamps_not_executor_delays():
    ctl = BudgetController(BudgetConfig(headroom=1.0))
    rng = random.Random(2)
    for i in range(50):  # 10 Hz capture stamps; the callback runs 0-150 ms late
        stamp = 1000.0 + i * 0.1
        ctl.on_link_state(i * 0.1, 800_000, NORMAL)
        d = ctl.on_camera_frame(i * 0.1 + rng.uniform(0, 0.15), stamp=stamp)
        ctl.sent(i * 0.1, d.budget_bytes)
        ctl.on_report(i * 0.1 + 0.05)
    assert d.camera_rate_hz == pytest.approx(10.0, rel=0.01)
    assert d.budget_bytes == 10_000


def test_target_is_bounded_by_the_capacity_the_link_has_shown():
    ctl = BudgetController(BudgetConfig(max_capacity_ratio=2.0, headroom=1.0))
    ctl.on_link_state(0.0, 4_000_000, NORMAL, capacity_bps=500_000)  # a runaway target
    ctl.on_camera_frame(0.0)
    d = ctl.on_camera_frame(0.1)
    assert d.target_bps == 1_000_000 and d.budget_bytes == 12_500
    ctl.on_link_state(0.15, 4_000_000, NORMAL, capacity_bps=0.0)  # no capacity known yet
    assert ctl.on_camera_frame(0.2).target_bps == 4_000_000
    off = BudgetController(BudgetConfig(max_capacity_ratio=0))
    off.on_link_state(0.0, 4_000_000, NORMAL, capacity_bps=500_000)
    assert off.on_camera_frame(0.0).target_bps == 4_000_000


def test_a_frame_is_at_most_max_frame_time_of_the_link():
    # a 2 Hz camera on 1 Mbit/s: 0.5 s of link per frame would overflow a 300 ms queue
    ctl = BudgetController(BudgetConfig(headroom=1.0, max_frame_time_s=0.25))
    ds, _ = run(ctl, 0.0, 5.0, 2, link_bps=1_000_000)
    assert ds[-1].budget_bytes == 31_250 and ds[-1].send and "capped" in ds[-1].reason
    # at 10 Hz the cap does not bind
    ctl = BudgetController(BudgetConfig(headroom=1.0, max_frame_time_s=0.25))
    ds, _ = run(ctl, 0.0, 3.0, 10, link_bps=1_000_000)
    assert ds[-1].budget_bytes == 12_500 and ds[-1].reason == ""


def test_unanswered_frames_halve_the_budget_until_the_estimator_has_measured_the_link():
    # the estimator's start-up guess (1 Mbit/s, STARTING) is far above a thin link: every
    # frame overflows the queue, no report comes back, and the monitor cannot know
    cfg = BudgetConfig(report_timeout_s=1.0, headroom=1.0, keepalive_budget_bytes=100)
    ctl = BudgetController(cfg)
    ds, t = run(ctl, 0.0, 4.5, 5, link_bps=1_000_000, state=0, reports=False)
    assert ds[2].budget_bytes == 25_000  # (the camera rate is measured by the third frame)
    budgets = [d.budget_bytes for d in ds[2:]]
    assert budgets[-1] <= 25_000 / 8 and budgets == sorted(budgets, reverse=True)  # halving
    # the small frames get through: reports return, but while the estimator is still
    # STARTING (its target is still the guess) the budget stays down...
    ds, t = run(ctl, t, 1.0, 5, link_bps=1_000_000, state=0)
    assert all(d.budget_bytes <= 25_000 / 8 for d in ds)
    # ...until it has measured the link: then its target rules again
    ds, t = run(ctl, t, 1.0, 5, link_bps=200_000, state=NORMAL)
    assert ds[-1].budget_bytes == 5_000
    off = BudgetController(BudgetConfig(report_timeout_s=0, headroom=1.0))
    ds, _ = run(off, 0.0, 4.0, 5, link_bps=1_000_000, state=0, reports=False)
    assert ds[-1].budget_bytes == 25_000
