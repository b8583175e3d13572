"""GCC trendline detector on synthetic frame arrivals."""
import random

from semcomm_ros.link.trendline import TrendlineDetector, Usage


def run(delay_ms, n=60, fps=10.0, offset_ms=0.0):
    """Feed n frames whose one-way delay is delay_ms(i); return the usages seen."""
    det = TrendlineDetector()
    seen = []
    for i in range(n):
        send = i * 1000.0 / fps
        seen.append(det.update(send, send + delay_ms(i) + offset_ms))
    return det, seen


def test_constant_delay_is_normal():
    det, seen = run(lambda i: 30.0)
    assert set(seen) == {Usage.NORMAL}
    assert abs(det.slope) < 1e-9


def test_growing_delay_is_overuse():
    # a queue growing 100 ms per second (sending 10 % over the link)
    det, seen = run(lambda i: 30.0 + 10.0 * max(0, i - 20))
    assert seen[-1] == Usage.OVERUSING
    assert det.slope > 0.05


def test_falling_delay_is_underuse():
    det, seen = run(lambda i: 30.0 + 10.0 * min(i, 30) - 10.0 * max(0, i - 30), n=50)
    assert Usage.UNDERUSING in seen[30:]


def test_clock_offset_cancels():
    a, sa = run(lambda i: 30.0 + 5.0 * max(0, i - 20))
    b, sb = run(lambda i: 30.0 + 5.0 * max(0, i - 20), offset_ms=-987654.0)
    assert sa == sb
    assert abs(a.slope - b.slope) < 1e-9


def test_isolated_host_jitter_spikes_are_not_overuse():
    rng = random.Random(4)
    spikes = {i: rng.uniform(20, 80) for i in range(200) if rng.random() < 0.1}
    _, seen = run(lambda i: 30.0 + spikes.get(i, 0.0), n=200)
    assert seen.count(Usage.OVERUSING) <= 2


def test_threshold_adapts_and_stays_in_bounds():
    det, _ = run(lambda i: 30.0 + (40.0 if i % 7 == 0 else 0.0), n=300)
    assert 6.0 <= det.threshold_ms <= 600.0
