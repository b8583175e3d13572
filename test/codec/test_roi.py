"""x264 ROI quantiser offsets through FFmpeg's addroi filter (PyAV filter graph)."""
from fractions import Fraction

import av
import cv2
import numpy as np

from semcomm_ros.codec import roi
from semcomm_ros.codec.roi import (
    QP_STEPS,
    RoiWriter,
    macroblock_offsets,
    offsets_to_regions,
    roi_writer,
)


def _regions(frame: av.VideoFrame) -> np.ndarray:
    """The AVRegionOfInterest array of a frame: self_size, top, bottom, left, right, num, den."""
    found = [sd for sd in frame.side_data if "REGIONS_OF_INTEREST" in str(sd.type)]
    assert found, "no REGIONS_OF_INTEREST side data"
    return np.frombuffer(bytes(found[0]), np.int32).reshape(-1, 7)


def test_macroblock_offsets():
    weights = np.full((48, 64), 0.1, np.float32)
    weights[:16, :16] = 1.0
    offsets = macroblock_offsets(weights, 0.1, 0.6, 10.0)
    assert offsets.shape == (3, 4) and offsets[0, 0] == -10.0 and offsets[2, 3] == 5.0


def test_regions_cover_every_macroblock_with_its_offset():
    rng = np.random.default_rng(1)
    steps = np.full((30, 40), 5)
    steps[4:12, 10:18] = -10
    steps[20:26, 3:9] = rng.integers(-10, 6, (6, 6))
    regions = offsets_to_regions(steps, 640, 480)
    assert regions[-1] == (0, 0, 640, 480, 5)  # the common offset, whole frame, last
    got = np.zeros_like(steps)
    for x, y, w, h, q in reversed(regions):  # libx264: the first region wins on overlap
        got[y // 16:(y + h + 15) // 16, x // 16:(x + w + 15) // 16] = q
    assert np.array_equal(got, steps)


def test_regions_are_coarsened_to_the_cap():
    steps = np.random.default_rng(2).integers(-10, 6, (30, 40))
    regions = offsets_to_regions(steps, 640, 480, max_regions=20)
    assert 0 < len(regions) <= 20


def test_addroi_side_data_reaches_the_frame():
    writer = roi_writer()
    assert writer.available, writer.reason
    frame = av.VideoFrame(64, 48, "yuv420p")
    weights = np.full((48, 64), 0.1, np.float32)
    weights[:16, :16] = 1.0
    out = writer.apply(frame, macroblock_offsets(weights, 0.1, 0.6, 10.0))
    assert (out.width, out.height, out.format.name) == (64, 48, "yuv420p")
    rows = _regions(out)
    # key macroblock first (top, bottom, left, right, -10/51), then the whole frame at +5/51
    assert rows[0, 1:].tolist() == [0, 16, 0, 16, -10, QP_STEPS]
    assert rows[-1, 1:].tolist() == [0, 48, 0, 64, 5, QP_STEPS]
    # same regions: the graph is reused; nothing to attach: the frame itself
    graphs = list(writer._graphs.values())
    writer.apply(av.VideoFrame(64, 48, "yuv420p"), macroblock_offsets(weights, 0.1, 0.6, 10.0))
    assert list(writer._graphs.values()) == graphs
    for i in range(roi.GRAPH_CACHE + 2):  # other region sets: a bounded cache of graphs
        other = np.zeros((3, 4))
        other[i % 3, i % 4] = -1 - i
        assert _regions(writer.apply(av.VideoFrame(64, 48, "yuv420p"), other)).shape[0] == 1
    assert len(writer._graphs) == roi.GRAPH_CACHE
    assert writer.apply(frame, np.zeros((3, 4))) is frame


def test_unavailable_filter_falls_back_loudly(monkeypatch, caplog):
    def broken(self, *args):
        raise ValueError("no such filter")

    monkeypatch.setattr(RoiWriter, "_build", broken)
    with caplog.at_level("WARNING", logger="semcomm_ros.codec.roi"):
        writer = RoiWriter()
    assert not writer.available and "no such filter" in writer.reason
    assert "unavailable" in caplog.text
    frame = av.VideoFrame(64, 48, "yuv420p")
    assert writer.apply(frame, np.full((3, 4), -5.0)) is frame
    monkeypatch.setattr(roi, "_WRITER", writer)  # what the video coder then does
    from semcomm_ros.codec import CodecConfig, SemanticEncoder

    cfg = CodecConfig()
    cfg.texture.coder = "video"
    cfg.texture.video_steering = "roi"
    enc = SemanticEncoder(cfg, detector=_BoxDetector())
    caplog.clear()
    with caplog.at_level("WARNING", logger="semcomm_ros.codec.video"):
        enc.encode(np.zeros((96, 128, 3), np.uint8), byte_budget=3000, sequence=0)
    assert any(r.name == "semcomm_ros.codec.video" and "prefilter" in r.getMessage()
               for r in caplog.records)


class _BoxDetector:
    name = "box"

    def detect(self, image):
        from semcomm_ros.codec.detect import Detection

        return [Detection(0, "person", 0.9, (16, 16, 32, 32))]


def _encode(frames, writer, offsets, bitrate):
    """libx264 (as the video coder opens it) over ``frames``; the decoded pictures and bytes."""
    height, width = frames[0].shape[:2]
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, 10), Fraction(10)
    ctx.bit_rate = bitrate
    ctx.options = {"preset": "veryfast", "tune": "zerolatency",
                   "x264-params": "keyint=30:bframes=0:rc-lookahead=0"}
    ctx.open()
    dec = av.CodecContext.create("h264", "r")
    dec.open()
    pictures, size = [], 0
    for index, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        if offsets is not None:
            frame = writer.apply(frame, offsets)
        frame.pts = index
        for packet in ctx.encode(frame):
            size += packet.size
            pictures += [p.to_ndarray(format="bgr24") for p in dec.decode(packet)]
    for packet in ctx.encode(None):
        size += packet.size
        pictures += [p.to_ndarray(format="bgr24") for p in dec.decode(packet)]
    return pictures, size


def test_libx264_reads_the_offsets(vtest_frames):
    """Same frames, same bitrate: the ROI gets better, the rest worse, bytes about equal."""
    writer = roi_writer()
    assert writer.available, writer.reason
    frames = [f[:480, :640].copy() for f in vtest_frames]
    weights = np.full((480, 640), 0.1, np.float32)
    weights[160:320, 224:416] = 1.0
    offsets = macroblock_offsets(weights, 0.1, 0.6, 10.0)
    plain, plain_bytes = _encode(frames, writer, None, 300_000)
    steered, steered_bytes = _encode(frames, writer, offsets, 300_000)
    assert len(plain) == len(steered) == len(frames)
    inside = np.zeros((480, 640), bool)
    inside[160:320, 224:416] = True

    def psnr(pictures, mask):
        mse = np.mean([np.mean((f[mask].astype(float) - p[mask]) ** 2)
                       for f, p in zip(frames, pictures)])
        return 10 * np.log10(255 ** 2 / mse)

    assert psnr(steered, inside) > psnr(plain, inside) + 2.0
    assert psnr(steered, ~inside) < psnr(plain, ~inside)
    assert abs(steered_bytes - plain_bytes) < 0.25 * plain_bytes
    assert cv2.PSNR(frames[-1], steered[-1]) > 20
