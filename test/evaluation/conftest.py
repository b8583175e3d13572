"""An evaluation of small bags cut from the sample, shared by the evaluation tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from semcomm_ros.io.bag_writer import write_image_bag
from semcomm_ros.io.frame_sources import SourceFrame, iter_bag

FRAMES = 8
SIZE = (320, 240)


def cut_bag(sample: Path, out: Path, encoding: str, storage: str = "mcap",
            start: int = 100, count: int = FRAMES) -> Path:
    """``count`` frames of the sample from ``start`` as a new bag (stamps kept, 10 Hz)."""
    frames = []
    for f in iter_bag(sample):
        if f.index >= start + count:
            break
        if f.index >= start:
            frames.append(SourceFrame(f.index - start, f.stamp_ns, f.image))
    write_image_bag(frames, out, topic="/robot/front/image" +
                    ("/compressed" if encoding in ("jpeg", "png") else ""),
                    storage=storage, size=SIZE, encoding=encoding)
    return out


@pytest.fixture(scope="session")
def small_bags(sample_bag, tmp_path_factory) -> list[Path]:
    """An rgb8 Image bag (sqlite3) and a JPEG CompressedImage bag (MCAP), 8 frames each."""
    root = tmp_path_factory.mktemp("bags")
    return [cut_bag(sample_bag, root / "rgb_sqlite", "rgb8", "sqlite3"),
            cut_bag(sample_bag, root / "jpeg_mcap", "jpeg", "mcap")]


@pytest.fixture(scope="session")
def evaluated(small_bags, tmp_path_factory) -> Path:
    """``semcomm eval`` of both bags at two budgets (one job: a test shares the cores)."""
    from semcomm_ros.cli import main

    out = tmp_path_factory.mktemp("eval") / "report"
    assert main(["eval", *map(str, small_bags), "--budgets", "30", "150", "--out", str(out),
                 "--detect-every", "4", "--jobs", "1"]) == 0
    return out
