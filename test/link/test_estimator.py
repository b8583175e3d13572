import pytest

from semcomm_ros.config import ConfigError
from semcomm_ros.link import FrameReportSample, LinkConfig, LinkEstimator, LinkStateCode


def feed(est, start_seq, t0, seconds, fps, frame_bytes, delay_fn, drop=lambda seq: False):
    """Simulate reports; returns the last estimate and next (seq, t)."""
    seq, t, last = start_seq, t0, None
    for _ in range(int(seconds * fps)):
        if not drop(seq):
            est.add_report(FrameReportSample(seq, frame_bytes, t, t + delay_fn(t)), now=t)
        last = est.estimate(t + 0.001)
        seq += 1
        t += 1.0 / fps
    return last, seq, t


def test_starts_in_starting_state_with_initial_budget():
    cfg = LinkConfig(initial_bps=800_000, frame_rate=10)
    e = LinkEstimator(cfg).estimate(0.0)
    assert e.state == LinkStateCode.STARTING
    assert e.recommended_frame_bytes == int(800_000 * cfg.headroom / 8 / 10)


def test_healthy_link_probes_upward():
    est = LinkEstimator(LinkConfig(initial_bps=400_000))
    first, seq, t = feed(est, 0, 100.0, 1.0, 10, 5000, lambda t: 0.02)
    last, _, _ = feed(est, seq, t, 5.0, 10, 5000, lambda t: 0.02)
    assert last.state == LinkStateCode.NORMAL
    assert last.estimated_throughput_bps > first.estimated_throughput_bps
    assert last.delivered_rate_bps == pytest.approx(400_000, rel=0.15)
    assert last.one_way_delay_ms == pytest.approx(20.0, abs=0.5)
    assert last.loss_fraction == 0.0


def test_growing_delay_is_overuse_and_backs_off():
    est = LinkEstimator(LinkConfig(initial_bps=2_000_000))
    _, seq, t = feed(est, 0, 0.0, 2.0, 10, 20_000, lambda t: 0.02)
    before = est.estimate(t).estimated_throughput_bps
    # queue builds: delay grows 100 ms per second
    last, _, _ = feed(est, seq, t, 2.0, 10, 20_000, lambda x: 0.02 + 0.1 * (x - t))
    assert last.state == LinkStateCode.OVERUSE
    assert last.delay_trend_ms_per_s == pytest.approx(100.0, rel=0.2)
    assert last.estimated_throughput_bps < before
    assert last.estimated_throughput_bps <= 0.85 * last.delivered_rate_bps * 1.3
    assert last.estimated_throughput_bps >= 0.5 ** 2 * before  # two cuts in 2 s, each <= half


def test_persistent_overuse_cuts_again_each_recut_interval():
    cfg = LinkConfig(initial_bps=4_000_000, overuse_recut_s=1.0)
    est = LinkEstimator(cfg)
    _, seq, t = feed(est, 0, 0.0, 2.0, 10, 40_000, lambda t: 0.02)
    cuts = []
    prev = est.estimate(t).estimated_throughput_bps
    for k in range(40):  # 4 s of a queue growing 100 ms/s, tiny goodput
        tk = t + k * 0.1
        est.add_report(FrameReportSample(seq + k, 500, tk, tk + 0.02 + 0.1 * k * 0.1), now=tk)
        e = est.estimate(tk + 0.001)
        if e.estimated_throughput_bps < prev * 0.99:
            cuts.append(round(tk - t, 1))
        prev = e.estimated_throughput_bps
    late = [c for c in cuts if c >= 1.5]
    assert len(late) >= 2, cuts            # still cutting long after the episode began...
    assert all(b - a >= 0.9 for a, b in zip(late, late[1:])), cuts  # ...once per second


def test_overuse_cut_is_bounded_by_half_when_delivery_collapses():
    est = LinkEstimator(LinkConfig(initial_bps=2_000_000))
    _, seq, t = feed(est, 0, 0.0, 2.0, 10, 20_000, lambda t: 0.02)
    before = est.estimate(t).estimated_throughput_bps
    # tiny frames get through while a queue builds: delivered rate is far below capacity
    last, _, _ = feed(est, seq, t, 2.0, 10, 500, lambda x: 0.02 + 0.1 * (x - t))
    assert last.state == LinkStateCode.OVERUSE
    # 0.85 x delivered would be ~0.03 Mbit/s; each cut at most halves, at most one cut per
    # overuse_recut_s (1 s) over these 2 s, plus the entry cut: >= before / 8
    assert before / 8 <= last.estimated_throughput_bps <= 0.5 * before


def test_heavy_loss_is_detected_and_cuts_the_estimate():
    est = LinkEstimator(LinkConfig(initial_bps=2_000_000))
    _, seq, t = feed(est, 0, 0.0, 1.0, 10, 10_000, lambda t: 0.01)
    before = est.estimate(t).estimated_throughput_bps
    last, _, _ = feed(est, seq, t, 3.0, 10, 10_000, lambda t: 0.01, drop=lambda s: s % 4 == 0)
    assert last.loss_fraction == pytest.approx(0.25, abs=0.07)
    assert last.state == LinkStateCode.LOSS
    assert last.estimated_throughput_bps < before


def test_silence_means_stale_and_backs_off_to_the_minimum():
    cfg = LinkConfig(stale_after_s=1.0)
    est = LinkEstimator(cfg)
    _, seq, t = feed(est, 0, 0.0, 1.0, 10, 10_000, lambda t: 0.01)
    before = est.estimate(t).estimated_throughput_bps
    e = est.estimate(t + 1.5)
    assert e.state == LinkStateCode.STALE
    assert cfg.min_bps < e.estimated_throughput_bps <= 0.5 * before
    for k in range(1, 30):
        e = est.estimate(t + 1.5 + k)
    assert e.estimated_throughput_bps == cfg.min_bps
    assert e.recommended_frame_bytes >= cfg.min_frame_bytes
    # the link comes back: reports again -> out of STALE
    last, _, _ = feed(est, seq + 300, t + 40, 2.0, 10, 1000, lambda t: 0.01)
    assert last.state == LinkStateCode.NORMAL


def test_clock_offset_does_not_change_trend():
    a, b = LinkEstimator(), LinkEstimator()
    ea, _, _ = feed(a, 0, 0.0, 2.0, 10, 5000, lambda t: 0.02)
    eb, _, _ = feed(b, 0, 0.0, 2.0, 10, 5000, lambda t: 3600.0)  # clocks an hour apart
    assert ea.delay_trend_ms_per_s == pytest.approx(eb.delay_trend_ms_per_s, abs=1e-3)
    assert ea.state == eb.state


@pytest.mark.parametrize("kwargs", [{"window_s": 0}, {"min_bps": 10, "initial_bps": 5},
                                    {"decrease_factor": 1.5}, {"loss_low": 0.5, "loss_high": 0.1}])
def test_bad_config_rejected(kwargs):
    with pytest.raises(ConfigError):
        LinkConfig(**kwargs).validate()


def test_negative_report_rejected():
    with pytest.raises(ValueError):
        LinkEstimator().add_report(FrameReportSample(1, -5, 0.0, 0.0))


def test_jitter_without_a_queue_is_not_overuse():
    """A steep but short delay ramp (a busy host, ~20 ms) must not cut the estimate."""
    cfg = LinkConfig(initial_bps=1_000_000, window_s=0.5, min_reports=3)
    est = LinkEstimator(cfg)
    _, seq, t = feed(est, 0, 0.0, 2.0, 20, 5_000, lambda t: 0.010)
    before = est.estimate(t).estimated_throughput_bps
    last, _, _ = feed(est, seq, t, 0.5, 20, 5_000, lambda x: 0.010 + 0.04 * (x - t))
    assert last.delay_trend_ms_per_s > cfg.overuse_trend_ms_per_s  # steep...
    assert last.state != LinkStateCode.OVERUSE  # ...but only ~20 ms of queue
    assert last.estimated_throughput_bps >= before
