"""Texture coders behind one interface, and the region coder.

A texture coder fills the texture fields of a :class:`CodedFrame` whose
semantic layer is already set, within ``available`` bytes, and returns the
scalability level it reached. Two coders exist: :class:`RegionCoder` (here:
objects and background coded apart with a still-image codec, every frame
decodable alone, background reused across frames) and
``semcomm_ros.codec.video.VideoCoder`` (libx264 through PyAV).
"""
from __future__ import annotations

import logging

import numpy as np

from semcomm_ros.codec import imagecodec
from semcomm_ros.codec.config import CodecConfig
from semcomm_ros.codec.frame import (
    LEVEL_BACKGROUND,
    LEVEL_FULL,
    LEVEL_OBJECTS,
    LEVEL_SEMANTIC,
    CodedFrame,
    CodedObject,
)
from semcomm_ros.codec.region import (
    BackgroundState,
    CodedImage,
    fit_scaled,
    resize_to,
    scale_ladder,
)

BACKGROUND_MAX_QUALITY = 85
BACKGROUND_GOOD_QUALITY = 35
log = logging.getLogger("semcomm_ros.codec.texture")

UPGRADE_EVERY = 4  # frames between background upgrade attempts
UPGRADE_SHARE = 0.7  # share of the texture budget an upgrade may take


class TextureCoder:
    """Interface of a texture coder (stateful across frames)."""

    def code(self, image: np.ndarray, frame: CodedFrame, weight_map: np.ndarray,
             available: int) -> int:
        """Fill ``frame``'s texture fields within ``available`` bytes; return the level."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget inter-frame state (next frame is self-contained)."""

    def feedback(self, sequence: int, ok: bool) -> None:
        """A receiver report: frame ``sequence`` was decoded (``ok``) or lost.

        A coder whose frames build on earlier ones refreshes what a lost frame
        carried; the default (every frame self-contained) has nothing to do.
        """

    def drop_texture(self, frame: CodedFrame) -> bool:
        """Remove the least important texture of ``frame``; False when none is left."""
        for obj in reversed(frame.objects):
            if obj.texture:
                clear_texture(obj)
                return True
        return False


def clear_texture(obj: CodedObject) -> None:
    """Remove an object's texture layer."""
    obj.texture, obj.texture_codec = b"", ""
    obj.texture_quality = obj.texture_width = obj.texture_height = 0


def set_background(frame: CodedFrame, coded: CodedImage | None) -> None:
    """Store (or clear, with None) the background layer of a frame."""
    if coded is None:
        frame.background, frame.background_codec = b"", ""
        frame.background_quality = frame.background_width = frame.background_height = 0
    else:
        frame.background, frame.background_codec = coded.data, coded.codec
        frame.background_quality = coded.quality
        frame.background_width, frame.background_height = coded.width, coded.height


def level_reached(frame: CodedFrame, background_held: bool, key_threshold: float) -> int:
    """Scalability level: background held, key objects textured, every object textured."""
    if not background_held:
        return LEVEL_SEMANTIC
    if not all(o.texture for o in frame.objects if o.weight >= key_threshold):
        return LEVEL_BACKGROUND
    if not all(o.texture for o in frame.objects):
        return LEVEL_OBJECTS
    return LEVEL_FULL


class RegionCoder(TextureCoder):
    """Objects and background coded apart with WebP/JPEG at weight-dependent quality/size."""

    def __init__(self, cfg: CodecConfig):
        """Start with no background at the decoder."""
        self.cfg = cfg
        self.background = BackgroundState()
        self._newest = -1  # sequence of the newest background sent

    def reset(self) -> None:
        """Next frame resends the background."""
        self.background.reset()
        self._newest = -1

    def feedback(self, sequence: int, ok: bool) -> None:
        """A lost frame that carried a background: the next frame sends one again.

        Object textures go in every frame, so they heal by themselves; the
        background is held by the decoder, and a lost one would leave the
        decoder on an older one until the next scheduled refresh.
        """
        if not ok and sequence == self._newest:  # a newer background replaced an older one
            log.info("frame %d carried a background and was lost: resending it", sequence)
            self.reset()

    def code(self, image: np.ndarray, frame: CodedFrame, weight_map: np.ndarray,
             available: int) -> int:
        """Background (when due) and object textures within ``available`` bytes."""
        tex = self.cfg.texture
        key = self.cfg.weights.key_threshold
        codec = tex.image_codec
        scales = scale_ladder(tex.background_scale, tex.min_background_scale)
        remaining = max(0, available)
        bg = None
        due = self.background.needs_refresh(image, weight_map < key, tex.background_max_age,
                                            tex.background_change)
        if due and remaining > 0:
            # Objects first, within their share; the background then takes all that is left.
            reserve = int(remaining * (tex.background_share if frame.objects else 1.0))
            left = self._code_objects(image, frame.objects, remaining - reserve)
            bg = fit_scaled(image, codec, left + reserve, scales, tex.min_quality,
                            BACKGROUND_MAX_QUALITY, BACKGROUND_GOOD_QUALITY)
        else:
            upgrade = int(remaining * UPGRADE_SHARE)
            if self.background.age % UPGRADE_EVERY == UPGRADE_EVERY - 1 and self._can_upgrade(
                    upgrade, image.shape[1] * image.shape[0] * scales[0] ** 2):
                # Every few frames a static background may take most of the budget once, to
                # upgrade the held one (it is reused, so the bytes pay off over many frames).
                better = fit_scaled(image, codec, upgrade, scales, tex.min_quality,
                                    BACKGROUND_MAX_QUALITY, BACKGROUND_GOOD_QUALITY)
                if better and better.width * better.height * better.quality > \
                        1.5 * self.background.score:
                    bg = better
            left = self._code_objects(image, frame.objects, remaining - (bg.cost if bg else 0))
            if bg is None and left > 1.3 * self.background.cost:
                # Bytes the objects did not need: refresh the background with them.
                bg = fit_scaled(image, codec, left, scales, tex.min_quality,
                                BACKGROUND_MAX_QUALITY, BACKGROUND_GOOD_QUALITY)
        set_background(frame, bg)
        if bg is not None:
            shown = resize_to(imagecodec.decode(bg.data, bg.codec, bg.width, bg.height),
                              image.shape[1], image.shape[0])
            self.background.sent(bg, shown)
            self._newest = frame.sequence
        else:
            self.background.tick()
        return level_reached(frame, self.background.reference is not None, key)

    def _can_upgrade(self, share: int, max_pixels: float) -> bool:
        """Worth trying a better background: one is held, it is not near the best, bytes exist."""
        held = self.background
        best = max_pixels * BACKGROUND_MAX_QUALITY
        return held.reference is not None and held.score < 0.7 * best and share > 1.3 * held.cost

    def _code_objects(self, image: np.ndarray, objects: list[CodedObject], remaining: int) -> int:
        tex = self.cfg.texture
        key = self.cfg.weights.key_threshold
        demand = [o.weight ** 2 * o.box[2] * o.box[3] for o in objects]
        for i, obj in enumerate(objects):
            pending = sum(demand[i:])
            if remaining <= 0 or pending <= 0:
                break
            share = int(remaining * demand[i] / pending)
            x, y, w, h = obj.box
            crop = image[y:y + h, x:x + w]
            # Key objects may reach the top quality; others are capped by their weight.
            q_max = round(tex.min_quality + (tex.object_max_quality - tex.min_quality)
                          * min(1.0, obj.weight / max(key, 1e-3)))
            scales = [1.0, 0.5, 0.25] if obj.weight >= key else [0.5, 0.25]
            coded = fit_scaled(crop, tex.image_codec, share, scales, tex.min_quality,
                               max(tex.min_quality, q_max), min(30, q_max))
            if coded is None:
                continue
            obj.texture, obj.texture_codec = coded.data, coded.codec
            obj.texture_quality = coded.quality
            obj.texture_width, obj.texture_height = coded.width, coded.height
            remaining -= coded.cost
        return remaining
