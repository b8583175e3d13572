"""``semcomm bench detect``: the matching rule, the labels file, a small end-to-end run."""
import json

import pytest

from semcomm_ros.bench import detect as bench


def test_matching_is_one_to_one_at_iou_half():
    truth = [(0, 0, 10, 20), (30, 0, 40, 20)]
    found = [(0.9, (0, 0, 10, 20)),     # exact: true positive
             (0.8, (1, 1, 11, 21)),     # same person again: a duplicate is a false positive
             (0.7, (30, 0, 40, 9))]     # IoU 0.45 with the second: not a match
    s = bench.match(truth, found, ignore=[])
    assert (s.tp, s.fp, s.fn) == (1, 2, 1)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(0.5)


def test_detections_on_ignore_regions_count_neither_way():
    s = bench.match([], [(0.9, (0, 150, 100, 470))], ignore=[[0, 150, 110, 480]])
    assert (s.tp, s.fp, s.fn) == (0, 0, 0)
    s = bench.match([], [(0.9, (300, 150, 400, 470))], ignore=[[0, 150, 110, 480]])
    assert s.fp == 1


def test_the_labels_file_is_well_formed_and_large_enough():
    doc = bench.load_labels()
    frames = doc["frames"]
    assert len(frames) >= 30
    assert {f["clip"] for f in frames} == {"vtest.avi", "box.mp4"}
    assert all(600 <= f["frame"] <= 794 for f in frames if f["clip"] == "vtest.avi")  # held out
    width, height = doc["image_size"]
    for f in frames:
        for o in f["objects"]:
            x0, y0, x1, y1 = o["box"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (f, o)
    assert sum(o["group"] == "vehicle" for f in frames for o in f["objects"]) >= 20


def test_a_short_run_writes_the_report(tmp_path, opencv_data):
    doc = bench.load_labels()
    doc["frames"] = doc["frames"][:2] + doc["frames"][-1:]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(doc))
    rc = bench.main(["--backends", "opencv", "nanodet", "--repeats", "1", "--labels",
                     str(labels), "--picture", "0", "--out", str(tmp_path)])
    assert rc == 0
    report = (tmp_path / "detect.md").read_text()
    assert "| nanodet |" in report and "Targets of issue 7" in report
    data = json.loads((tmp_path / "detect.json").read_text())
    nanodet = next(r for r in data["results"] if r["backend"] == "nanodet")
    assert nanodet["scores"]["person"]["recall"] >= 0.7  # three labelled frames, real detector
    assert (tmp_path / "detect_boxes.png").stat().st_size > 10_000
