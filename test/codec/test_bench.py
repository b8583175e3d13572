"""The codec benchmark end to end on a few frames, and its metric helpers."""
import argparse
import json

import cv2
import numpy as np
import pytest

from semcomm_ros.bench import codec as bench
from semcomm_ros.bench.metrics import (
    box_iou,
    count_phantoms,
    frames_to_recover,
    quality,
    weighted_psnr,
)
from semcomm_ros.codec.detect import Detection


def test_region_metrics_separate_key_and_background():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    test = ref.copy()
    test[:, 32:] = 0  # background destroyed, key region intact
    key = np.zeros((64, 64), bool)
    key[:, :32] = True
    q = quality(ref, test, key)
    assert q.psnr_key == 60.0 and q.psnr_bg < 10 and q.ssim_key > 0.9 > q.ssim_bg
    assert np.isnan(q.wpsnr)  # no weight map given


def test_weighted_psnr_formula():
    ref = np.full((8, 8, 3), 100, np.uint8)
    test = ref.copy()
    test[:, :4] += 10  # squared error 100 on every channel of the left half
    weights = np.zeros((8, 8), np.float32)
    weights[:, :4] = 1.0
    assert weighted_psnr(ref, test, weights) == pytest.approx(10 * np.log10(255 ** 2 / 100))
    weights[:, 4:] = 1.0 / 3.0  # WMSE = (1 * 100 + 1/3 * 0) / (1 + 1/3) = 75
    assert weighted_psnr(ref, test, weights) == pytest.approx(10 * np.log10(255 ** 2 / 75))
    one = ref.copy()
    one[:, :4, 0] += 10  # error on one channel of three: mean over channels
    weights[:, 4:] = 0.0
    assert weighted_psnr(ref, one, weights) == pytest.approx(10 * np.log10(255 ** 2 * 3 / 100))
    assert weighted_psnr(ref, ref, weights) == 60.0
    assert quality(ref, test, weights > 0, False, weights).wpsnr == pytest.approx(28.13, 0.01)


def _det(label, box):
    return Detection(0, label, 0.9, box)


def test_phantoms_are_unmatched_detections():
    original = [_det("person", (10, 10, 20, 40)), _det("car", (100, 50, 60, 30))]
    decoded = [
        _det("person", (12, 12, 20, 40)),   # matches the person (IoU ~0.75)
        _det("car", (12, 12, 20, 40)),      # right place, wrong label: phantom
        _det("car", (130, 50, 60, 30)),     # IoU 1/3 with the car: matches
        _det("dog", (300, 300, 10, 10)),    # nothing there: phantom
        _det("person", (25, 10, 20, 40)),   # IoU 0.143 with the person: phantom
    ]
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert count_phantoms(original, decoded, 0.3) == 3
    assert count_phantoms([], decoded) == 5 and count_phantoms(original, []) == 0


def test_frames_to_recover_counts_each_loss_event():
    clean = [30.0] * 10
    lossy = [30, 20, 22, 25, 30, 30, 10, 30, 30, 30]
    lost = [False, True, False, False, False, False, True, False, False, False]
    assert frames_to_recover(lossy, clean, lost) == [2, 0]


def test_bag_frames_are_taken_at_the_benchmark_rate(monkeypatch):
    from semcomm_ros.io import frame_sources

    def fake_bag(path, fps=10.0, topic=None):  # 30 Hz with a little jitter
        for i in range(30):
            image = np.full((4, 6, 3), i, np.uint8)
            yield frame_sources.SourceFrame(i, int(i * 1e9 / 30) + (i % 3) * 1000, image)

    monkeypatch.setattr(frame_sources, "open_source", fake_bag)
    monkeypatch.setattr(frame_sources, "detect_kind", lambda path: "bag")
    frames = bench.load_frames("/", 100, 10.0)
    assert [int(f[0, 0, 0]) for f in frames] == list(range(0, 30, 3))


def test_our_encoder_hears_of_each_frame_one_round_trip_later(monkeypatch, vtest_frames):
    from semcomm_ros.codec import CodecConfig, SemanticEncoder

    heard = []
    monkeypatch.setattr(SemanticEncoder, "feedback",
                        lambda self, sequence, ok: heard.append((sequence, ok)), raising=False)
    clip = bench.Clip("t", vtest_frames[:5], detections=[[]] * 5)
    lost = [False, True, False, True, False]
    coded = bench.encode_ours(clip, 2000, CodecConfig(), lost, rtt_frames=2)
    assert len(coded.sizes) == 5 and bench.has_feedback()
    assert heard == [(0, True), (1, False), (2, True)]


@pytest.mark.timeout(300)
def test_bench_runs_and_writes_its_report(tmp_path):
    folder = tmp_path / "frames"  # an image folder as a clip
    folder.mkdir()
    cap = cv2.VideoCapture(str(bench.DATA / "vtest.avi"))
    for i in range(4):
        ok, image = cap.read()
        assert ok
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.resize(image, (320, 240)))
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bench.register(sub)
    out = tmp_path / "out"
    from semcomm_ros.node_config import codec_config

    default = f"ours-{codec_config(None).texture.coder}"  # pictured and phantom-checked
    codecs = list(dict.fromkeys([default, "ours-region", "webp", "x264"]))
    args = parser.parse_args(["codec", "--frames", "4", "--budgets", "30", "200",
                              "--codecs", *codecs,
                              "--loss", "0.5", "--loss-budget", "200", "--phantom-every", "2",
                              "--detector", "opencv", "--no-yolo-timing", "--out", str(out),
                              "--clip", str(folder)])
    assert args.func(args) == 0
    report = (out / "codec.md").read_text()
    assert "## Targets of issue 8" in report and "| ours-region | 200 |" in report
    assert "weighted PSNR = 10 log10(255^2 / WMSE)" in report
    assert "weighted PSNR >= max(webp, x264)" in report and "## Phantom check" in report
    assert "codec_frames_lowest.png" in report
    assert (out / "codec_frames.png").stat().st_size > 1000
    picture = cv2.imread(str(out / "codec_frames_lowest.png"))
    assert picture.shape == (240, 4 * 320, 3)  # original | WebP | x264 | ours
    data = json.loads((out / "codec.json").read_text())
    assert {r["codec"] for r in data["results"]} == set(codecs)
    assert all(r["within_budget"] == 1.0 and r["use"] <= 1.0
               for r in data["results"] if r["codec"].startswith("ours"))
    assert all(np.isfinite(r["wpsnr"]) for r in data["results"])
    assert len(data["loss"]) == len(codecs)
    assert {(p["codec"], p["budget_kbps"]) for p in data["phantoms"]} == {
        (c, k) for c in codecs if c != "webp" for k in (30.0, 200.0)}
    # a strict phantom is a phantom that also misses the half-confidence originals
    assert all(0 <= p["strict"] <= p["phantoms"] for p in data["phantoms"])
    assert "strict phantoms" in report


def test_default_codecs_follow_the_coders():
    from semcomm_ros.codec.config import CODERS

    assert bench.default_codecs()[:len(CODERS)] == [f"ours-{c}" for c in CODERS]
    assert "ours-video-prefilter" not in bench.default_codecs()
    assert "ours-video-prefilter" in bench.all_codecs()


def test_sample_bag_is_a_clip():
    bag = bench.DATA.parents[1] / "sample" / "vtest_10hz"
    if not bag.is_dir():
        pytest.skip("sample bag missing (make-sample)")
    frames = bench.load_frames(str(bag), 3, 10.0)
    assert len(frames) == 3 and frames[0].shape == (480, 640, 3)
