"""SemanticEncoder: budgets, levels, runtime configuration, bad input."""
import copy

import numpy as np
import pytest

from semcomm_ros.codec import (
    LEVEL_OBJECTS,
    LEVEL_SEMANTIC,
    CodecConfig,
    EncoderInputError,
    SemanticEncoder,
)
from semcomm_ros.codec.bitstream import pack


@pytest.mark.parametrize("budget", [60, 300, 1000, 3000, 12000, 60000])
def test_bytes_used_is_exact_and_within_budget(scripted, vtest_frames, budget):
    enc = SemanticEncoder(_region(), detector=scripted)
    for i, image in enumerate(vtest_frames[:4]):
        frame = enc.encode(image, byte_budget=budget, sequence=i)
        assert frame.bytes_used == len(pack(frame))
        assert frame.bytes_used <= budget
        assert frame.byte_budget == budget and frame.sequence == i


def _region() -> CodecConfig:
    """These tests describe the region coder (the auto coder has test_auto.py)."""
    cfg = CodecConfig()
    cfg.texture.coder = "region"
    return cfg


def test_tiny_budget_sends_semantics_only_and_large_budget_reaches_objects(scripted,
                                                                           vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    tiny = enc.encode(vtest_frames[0], byte_budget=250)
    assert tiny.level == LEVEL_SEMANTIC and not tiny.background
    assert all(not o.texture for o in tiny.objects) and tiny.objects
    enc.reset()
    big = enc.encode(vtest_frames[0], byte_budget=40000)
    assert big.level >= LEVEL_OBJECTS and big.background
    key = [o for o in big.objects if o.weight >= enc.cfg.weights.key_threshold]
    assert key and all(o.texture for o in key)


def test_objects_are_sorted_and_weighted_by_priority(scripted, vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    frame = enc.encode(vtest_frames[0], byte_budget=8000)
    weights = [o.weight for o in frame.objects]
    assert weights == sorted(weights, reverse=True)
    assert frame.objects[0].label == "person" and frame.objects[-1].label == "bench"
    assert frame.objects[0].mask  # the scripted first person has a mask
    assert enc.last_weight_map.shape == (576, 768)
    assert enc.last_weight_map.dtype == np.float32
    assert len(enc.last_detections) == 3


def test_key_objects_get_more_bytes_per_pixel_than_background(scripted, vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    frame = enc.encode(vtest_frames[0], byte_budget=6000)
    person = frame.objects[0]
    obj_bpp = len(person.texture) * 8 / (person.box[2] * person.box[3])
    bg_bpp = len(frame.background) * 8 / (768 * 576)
    assert obj_bpp > 3 * bg_bpp


def test_update_config_changes_priorities_without_reloading_the_detector(scripted,
                                                                          vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    before = enc.encode(vtest_frames[0], byte_budget=8000)
    cfg = copy.deepcopy(enc.cfg)
    cfg.weights.class_priorities = ["bench=1.0", "person=0.1", "*=0.2"]
    enc.update_config(cfg)
    assert enc.detector is scripted
    after = enc.encode(vtest_frames[1], byte_budget=8000)
    assert before.objects[0].label == "person" and after.objects[0].label == "bench"


def test_static_background_is_reused(scripted, vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    still = vtest_frames[0]
    sent = [bool(enc.encode(still, byte_budget=4000, sequence=i).background) for i in range(8)]
    assert sent[0] and sent.count(True) <= 4  # first frame, then only upgrades


def test_bad_input_raises_the_codecs_error(scripted):
    enc = SemanticEncoder(_region(), detector=scripted)
    for bad in (np.zeros((100, 100), np.uint8), np.zeros((100, 100, 3), np.float32),
                np.zeros((8, 100, 3), np.uint8), "image"):
        with pytest.raises(EncoderInputError):
            enc.encode(bad)
    with pytest.raises(EncoderInputError):
        enc.encode(np.zeros((100, 100, 3), np.uint8), byte_budget=-1)


def test_any_image_size_with_the_fallback_detector(box_frames):
    cfg = CodecConfig()
    cfg.detector.backend = "opencv"
    enc = SemanticEncoder(cfg)
    for i, image in enumerate(box_frames):
        frame = enc.encode(image, byte_budget=5000, sequence=i)
        assert (frame.source_width, frame.source_height) == (640, 480)
        assert frame.bytes_used <= 5000


def test_region_coder_resends_a_background_reported_lost(scripted, vtest_frames):
    enc = SemanticEncoder(_region(), detector=scripted)
    first = enc.encode(vtest_frames[0], byte_budget=4000, sequence=0)
    assert first.background  # the decoder has none yet
    second = enc.encode(vtest_frames[0], byte_budget=4000, sequence=1)
    assert not second.background  # static scene: the held one is reused
    enc.feedback(1, False)  # a frame without a background: nothing to resend
    third = enc.encode(vtest_frames[0], byte_budget=4000, sequence=2)
    assert not third.background
    enc.feedback(0, False)  # the background itself was lost
    fourth = enc.encode(vtest_frames[0], byte_budget=4000, sequence=3)
    assert fourth.background


class _ThreadRecordingDetector:
    """Frame k's detections: one object whose label names k; records the calling thread."""

    name = "recording"
    LABELS = ("person", "car", "bicycle", "dog", "bus", "truck")

    def __init__(self, objects: int = 1):
        self.calls, self.threads, self.objects = 0, [], objects

    def detect(self, image):
        import threading

        from semcomm_ros.codec.detect import Detection

        self.threads.append(threading.get_ident())
        label = self.LABELS[self.calls % len(self.LABELS)]
        self.calls += 1
        return [Detection(0, label, 0.9, (40 + 30 * i, 60, 40, 90)) for i in range(self.objects)]


@pytest.mark.parametrize("budget", [400, 2500, 20000])
def test_pipelined_detection_sends_the_current_objects_within_budget(vtest_frames, budget):
    """The detector runs beside the texture coder; the current objects are still sent.

    (In a second thread.) The frame fits its budget: the semantic layer is fitted again
    after the texture.
    """
    import threading

    det = _ThreadRecordingDetector(objects=6)
    enc = SemanticEncoder(CodecConfig(), detector=det)  # auto coder, pipelined by default
    assert enc.cfg.detector.pipelined
    for k, image in enumerate(vtest_frames[:5]):
        frame = enc.encode(image, byte_budget=budget, sequence=k)
        enc.feedback(k, True)
        assert frame.bytes_used == len(pack(frame)) and frame.bytes_used <= budget
        assert frame.objects, "key objects are never shed"
        assert {o.label for o in frame.objects} == {det.LABELS[k]}
    main = threading.get_ident()
    assert det.threads[0] == main                  # the first frame: nothing to weigh with yet
    assert all(t != main for t in det.threads[1:])  # then beside the texture coder


def test_sequential_detection_stays_available(vtest_frames):
    import threading

    cfg = CodecConfig()
    cfg.detector.pipelined = False
    det = _ThreadRecordingDetector()
    enc = SemanticEncoder(cfg, detector=det)
    for k, image in enumerate(vtest_frames[:3]):
        frame = enc.encode(image, byte_budget=3000, sequence=k)
        assert {o.label for o in frame.objects} == {det.LABELS[k]}
    assert set(det.threads) == {threading.get_ident()}
