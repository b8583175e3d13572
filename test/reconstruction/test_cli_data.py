"""CLI hooks and the fixed held-out split."""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest

from semcomm_ros.bench import decoder as bench_decoder
from semcomm_ros.reconstruction import train as train_mod
from semcomm_ros.reconstruction.data import (
    DEFAULT_DATA_DIR,
    HELD_OUT_PHOTOS,
    iter_sources,
    read_images,
)


def test_cli_hooks_register_subcommands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    train_mod.register(sub)
    bench = sub.add_parser("bench").add_subparsers(dest="bench")
    bench_decoder.register(bench)
    args = parser.parse_args(["train-decoder", "a.avi", "--steps", "5", "--device", "cpu"])
    assert args.func is train_mod.run and args.steps == 5 and args.inputs == ["a.avi"]
    args = parser.parse_args(["bench", "decoder", "--bpp", "0.05", "0.1"])
    assert args.func is bench_decoder.run and args.bpp == [0.05, 0.1]


def test_held_out_photos_are_not_trained_on(tmp_path):
    for name in ("keep.jpg", HELD_OUT_PHOTOS[0]):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    names = [s.name for s in read_images(tmp_path, HELD_OUT_PHOTOS)]
    assert names == ["keep.jpg"]


@pytest.mark.skipif(not (DEFAULT_DATA_DIR / "vtest.avi").is_file(), reason="no sample data")
def test_held_out_video_frames_are_refused():
    video = str(DEFAULT_DATA_DIR / "vtest.avi")
    names = [s.name for s in iter_sources([video], video_every=1, frames=range(595, 700))]
    assert names == [f"vtest.avi#{i}" for i in range(595, 600)]


def test_unknown_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not an image folder"):
        list(iter_sources([str(tmp_path / "x.txt")]))
