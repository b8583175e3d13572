"""Weight map: priorities, confidence, ROI, floor, quantisation."""
import numpy as np
import pytest

from semcomm_ros.codec.config import WeightConfig
from semcomm_ros.codec.detect import Detection
from semcomm_ros.codec.weights import (
    build_weight_map,
    dequantise_map,
    parse_priorities,
    quantise_map,
)
from semcomm_ros.config import ConfigError


def test_parse_priorities():
    assert parse_priorities(["person=1", " car = 0.5", "*=0.2"]) == {
        "person": 1.0, "car": 0.5, "*": 0.2}
    for bad in (["person"], ["=0.3"], ["x=abc"], ["x=-0.1"]):
        with pytest.raises(ConfigError):
            parse_priorities(bad)


def _dets():
    return [Detection(0, "person", 0.9, (10, 10, 50, 100)),
            Detection(2, "car", 0.9, (200, 100, 80, 60)),
            Detection(5, "cup", 0.9, (120, 180, 40, 40))]


def test_priorities_order_the_map_and_floor_holds():
    cfg = WeightConfig(class_priorities=["person=1.0", "car=0.5", "*=0.2"], background=0.1,
                       small_object_boost=0.0)
    wmap, weights = build_weight_map(_dets(), 240, 320, cfg)
    assert wmap.shape == (240, 320) and wmap.dtype == np.float32
    assert weights[0] > weights[1] > weights[2]
    assert wmap[60, 35] > wmap[130, 240] > wmap[200, 140]
    assert wmap.min() >= 0.1 - 1e-6 and wmap.max() <= 1.0
    assert abs(wmap[230, 310] - 0.1) < 0.02  # far from every object: the floor


def test_confidence_lowers_weight_and_changing_priorities_changes_the_map():
    cfg = WeightConfig(class_priorities=["*=1.0"], confidence_power=1.0, small_object_boost=0)
    low = Detection(0, "person", 0.3, (10, 10, 50, 100))
    high = Detection(0, "person", 0.9, (10, 10, 50, 100))
    assert build_weight_map([low], 240, 320, cfg)[1][0] < build_weight_map([high], 240, 320,
                                                                           cfg)[1][0]
    cfg2 = WeightConfig(class_priorities=["person=0.2", "*=1.0"], confidence_power=1.0)
    assert build_weight_map([high], 240, 320, cfg2)[1][0] < 0.3


def test_roi_and_soft_edges():
    cfg = WeightConfig(roi=[0.5, 0.5, 0.5, 0.5], roi_weight=0.9, background=0.0)
    wmap, _ = build_weight_map([], 200, 200, cfg)
    assert wmap[150, 150] > 0.85 and wmap[20, 20] < 0.05
    assert 0.05 < wmap[150, 95] < 0.9  # soft edge just outside the ROI


def test_quantise_round_trip_is_small_and_close():
    cfg = WeightConfig()
    wmap, _ = build_weight_map(_dets(), 480, 640, cfg)
    small = quantise_map(wmap, 16)  # finer than the default, to check the shape
    assert small.shape == (30, 40) and small.dtype == np.uint8
    assert set(np.unique(small) % 17) == {0}
    back = dequantise_map(small, 480, 640)
    assert np.abs(back - wmap).mean() < 0.05
