"""Per-frame budgets of a setting: fixed rates, and traces through the encoder's budget policy."""
import pytest

from semcomm_ros.evaluation.settings import Budgets, fixed, from_trace


def test_fixed_rate_gives_every_frame_rate_over_fps_bytes():
    b = Budgets(fixed(100), fps=10.0)
    assert b.setting.name == "100kbps"
    assert all(b.decide(i / 10) == (True, 1250, 100.0) for i in range(5))
    assert Budgets(fixed(30), fps=5.0).decide(0.0) == (True, 750, 30.0)
    with pytest.raises(ValueError):
        fixed(0)


def test_trace_budget_follows_the_rate_and_skips_during_an_outage(tmp_path):
    path = tmp_path / "walk.csv"
    path.write_text("time_s,rate_kbit\n0,400\n2,0\n4,200\n6,\n")
    setting = from_trace(str(path))
    assert setting.name == "trace-walk" and setting.is_trace
    b = Budgets(setting, fps=10.0)
    decisions = {}
    for i in range(60):
        t = i / 10
        send, budget, kbps = b.decide(t)
        b.sent(t, budget if send else 0, send and kbps > 0)
        decisions[i] = (send, budget, kbps)
    # 400 kbit/s at 10 frames/s: 400e3 x headroom 0.95 / 8 / 10 = 4750 bytes per frame
    assert decisions[10] == (True, 4750, 400.0)
    # link dead (rate 0): semantics-only keep-alives at 2 Hz, the rest skipped
    outage = [decisions[i] for i in range(21, 40)]
    assert all(k == 0.0 for _, _, k in outage)
    sent = [d for d in outage if d[0]]
    assert 2 <= len(sent) <= 5 and all(budget <= 100 for _, budget, _ in sent)
    # back at 200 kbit/s: half the bytes of the first part
    assert decisions[50] == (True, 2375, 200.0)
