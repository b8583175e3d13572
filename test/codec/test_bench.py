"""The codec benchmark end to end on a few frames, and its metric helpers."""
import argparse
import json

import numpy as np
import pytest

from semcomm_ros.bench import codec as bench
from semcomm_ros.bench.metrics import frames_to_recover, quality


def test_region_metrics_separate_key_and_background():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    test = ref.copy()
    test[:, 32:] = 0  # background destroyed, key region intact
    key = np.zeros((64, 64), bool)
    key[:, :32] = True
    q = quality(ref, test, key)
    assert q.psnr_key == 60.0 and q.psnr_bg < 10 and q.ssim_key > 0.9 > q.ssim_bg


def test_frames_to_recover_counts_each_loss_event():
    clean = [30.0] * 10
    lossy = [30, 20, 22, 25, 30, 30, 10, 30, 30, 30]
    lost = [False, True, False, False, False, False, True, False, False, False]
    assert frames_to_recover(lossy, clean, lost) == [2, 0]


@pytest.mark.timeout(300)
def test_bench_runs_and_writes_its_report(tmp_path):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bench.register(sub)
    args = parser.parse_args(["codec", "--frames", "4", "--budgets", "200",
                              "--codecs", "ours-region", "ours-video", "webp", "x264",
                              "--loss", "0.5", "--no-yolo-timing", "--out", str(tmp_path),
                              "--clip", str(bench.DATA / "vtest.avi")])
    assert args.func(args) == 0
    report = (tmp_path / "codec.md").read_text()
    assert "## Targets of issue 3" in report and "| ours-video | 200 |" in report
    assert (tmp_path / "codec_vtest.png").stat().st_size > 1000
    data = json.loads((tmp_path / "codec.json").read_text())
    assert {r["codec"] for r in data["results"]} == {"ours-region", "ours-video", "webp", "x264"}
    assert all(r["within_budget"] == 1.0 for r in data["results"] if r["codec"] != "webp")
    assert len(data["loss"]) == 4
