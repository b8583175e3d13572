"""The closed loop on a real shaped link (network namespaces, tc tbf); needs root.

CI runs as root, so this runs there; elsewhere it is skipped with the reason.
"""
import subprocess

import pytest

from semcomm_ros.bench.link import Phase, parse_schedule, run_experiment, summarise
from semcomm_ros.bench.netns import netns_available

pytestmark = pytest.mark.integration


def test_parse_schedule():
    assert parse_schedule("800,200", 10) == [Phase(0, 10, 800), Phase(10, 20, 200)]
    with pytest.raises(ValueError):
        parse_schedule("10", 5)


@pytest.mark.skipif(netns_available() is not None, reason=str(netns_available()))
def test_budget_follows_a_capacity_drop(tmp_path, sample_bag):
    schedule = parse_schedule("800,200", 22)
    rows = run_experiment(schedule, fps=5.0, work=tmp_path)
    high, low = summarise(rows, schedule, fps=5.0)
    assert high.goodput_kbit > 150, high            # the link is used
    assert high.goodput_kbit < 1.05 * 800, high
    assert low.goodput_kbit < 1.05 * 200, low       # cannot exceed the capacity...
    assert low.budget_kbit < 2 * 200, low           # ...and the budget came down to it
    assert low.budget_kbit < 0.6 * high.budget_kbit, (high, low)
    assert low.loss < 0.2, low
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "scr" not in names and "scb" not in names  # namespaces removed
