"""Training: the loss goes down on a tiny set, state resumes, packs round-trip."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from semcomm_ros.reconstruction.data import PackedPair, Source, build_pack, load_pack
from semcomm_ros.reconstruction.models import EmbeddedDecoder
from semcomm_ros.reconstruction.train import CropSampler, TrainOptions, batch_loss, train


def tiny_pairs(n: int = 3) -> list[PackedPair]:
    """Smooth images; the 'composite' is a blurred copy, half of it with a kept object."""
    import cv2
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        orig = cv2.resize(small, (64, 64), interpolation=cv2.INTER_CUBIC)
        comp = cv2.GaussianBlur(orig, (0, 0), 3)
        weight = np.full((64, 64), 0.1, np.float32)
        weight[:16, :16] = 0.9
        sem = (weight > 0.5).astype(np.uint16)
        pairs.append(PackedPair(orig, comp, weight, sem, 2 if i % 2 else 1))
    return pairs


def options(tmp_path, spec, **kw) -> TrainOptions:
    base = dict(out=str(tmp_path / "run"), init="none", steps=40, batch=4, crop=32, lr=3e-3,
                warmup=5, save_every=0, device="cpu", spec=asdict(spec()))
    base["spec"].pop("training")
    base.update(kw)
    return TrainOptions(**base)


def fixed_loss(model: EmbeddedDecoder, pairs) -> float:
    o, k, m, _, _ = CropSampler(pairs, 32, 0.45, 0.6, seed=123).batch(8)
    t = torch.full((8,), 999)
    noise = torch.randn(8, 48, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float(batch_loss(model, o, k, m, t, noise))


def test_training_lowers_the_loss(tmp_path, spec):
    pairs = tiny_pairs()
    start = train(pairs, options(tmp_path / "start", spec, steps=0), progress=False)
    before = fixed_loss(EmbeddedDecoder.load(start["model"]), pairs)
    summary = train(pairs, options(tmp_path, spec), progress=False)
    after = fixed_loss(EmbeddedDecoder.load(summary["model"]), pairs)
    assert summary["steps"] == 40
    assert after < 0.7 * before, (before, after)


def test_training_is_seeded_and_resumable(tmp_path, spec):
    pairs = tiny_pairs()
    a = train(pairs, options(tmp_path / "a", spec, steps=6), progress=False)
    b = train(pairs, options(tmp_path / "b", spec, steps=6), progress=False)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    c = train(pairs, options(tmp_path / "a", spec, steps=10), progress=False)  # resumes at 6
    assert c["steps"] == 10
    assert [s for s, _ in c["history"]] == [6, 10]  # history carried over from the first run


def test_pack_round_trip(tmp_path):
    import cv2
    rng = np.random.default_rng(1)
    img = cv2.resize(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8), (240, 200))
    sources = [Source("a", img), Source("v#0", img, "v", True), Source("v#1", img, "v", False)]
    path = build_pack(sources, tmp_path / "p.npz", budgets_per_image=2, use_codec=False)
    pairs, info = load_pack(path)
    assert info["pairs"] == 4 and info["images"] == 2 and info["source"] == "synthetic"
    assert pairs[0].original.shape == img.shape and pairs[0].weight_map.shape == (200, 240)
    assert np.abs(pairs[0].original.astype(int) - img).mean() < 3  # JPEG q92


def test_fine_tuning_resumes_from_the_shipped_checkpoint(tmp_path):
    """init=shipped: the step count continues the shipped model's; a rerun resumes state.pt."""
    from semcomm_ros.reconstruction.config import SHIPPED_CHECKPOINT
    shipped = EmbeddedDecoder.load(SHIPPED_CHECKPOINT)
    base = shipped.spec.training.get("total_steps", shipped.spec.training["steps"])
    pairs = tiny_pairs()
    opts = dict(out=str(tmp_path / "ft"), init="shipped", batch=2, crop=32, warmup=1,
                save_every=0, device="cpu")
    a = train(pairs, TrainOptions(steps=2, **opts), progress=False)
    assert a["steps"] == 2 and a["total_steps"] == base + 2
    model = EmbeddedDecoder.load(a["model"])
    assert model.spec.temporal and model.spec.training["total_steps"] == base + 2
    b = train(pairs, TrainOptions(steps=3, **opts), progress=False)  # resumes at 2
    assert b["steps"] == 3 and b["total_steps"] == base + 3
