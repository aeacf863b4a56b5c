"""Alignment and framing: eyes level, FER2013-like framing, any face size, faces cut by the border."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facexp.faces import Face, FaceSettings, align_face, crop_faces, detect_faces, eye_angle, framing_stats
from facexp.imageio import open_image
from helpers import shared_path

# Medians over 345 FER2013 training crops, from framing_stats (see FaceSettings.margin)
FER_EYE_DISTANCE, FER_EYE_TO_MOUTH = 0.401, 0.440


def test_tilted_faces_come_out_with_level_eyes(collage):
    tilted = [f for f in detect_faces(collage) if abs(eye_angle(f)) > 8]
    assert len(tilted) == 2
    for face in tilted:
        crop = align_face(collage, face, size=160, margin=0.2)
        again = detect_faces(crop)
        assert len(again) == 1 and abs(eye_angle(again[0])) < 3, eye_angle(again[0])


def test_default_margin_frames_real_photos_like_fer2013():
    photos = shared_path("photos")
    images = [open_image(photos / name) for name in ("group.jpeg", "happy-baby.jpeg", "surprised.jpeg", "neutral.jpeg")]
    stats = framing_stats(crop for image in images for _, crop in crop_faces(image))
    assert stats.n_found >= 5
    assert abs(stats.eye_distance / FER_EYE_DISTANCE - 1) < 0.1, stats
    assert abs(stats.eye_to_mouth / FER_EYE_TO_MOUTH - 1) < 0.1, stats


def test_margin_scales_the_face_in_the_crop(astro):
    face = detect_faces(astro)[0]
    tight, loose = (framing_stats([align_face(astro, face, size=48, margin=m)]) for m in (0.0, 0.2))
    assert loose.eye_distance / tight.eye_distance == pytest.approx(1 / 1.4, rel=0.1)


@pytest.mark.parametrize("size", [32, 48, 96])
def test_crops_have_the_configured_size_and_mode(astro, size):
    [(face, crop)] = crop_faces(astro, settings=FaceSettings(size=size))
    assert crop.size == (size, size) and crop.mode == "RGB"
    [(_, gray)] = crop_faces(astro, settings=FaceSettings(size=size, grayscale=True))
    assert gray.mode == "L"


def test_face_cut_by_the_border_is_padded_with_its_edge(astro):
    cut = astro.crop((215, 0, 512, 300))  # about half the face is left of the border
    face = Face((-40.0, 56.0, 90.0, 110.0), 0.99, None)
    crop = np.asarray(align_face(cut, face, size=48, margin=0.1))
    assert crop.shape == (48, 48, 3)
    assert (crop.reshape(-1, 3).sum(axis=1) > 0).all()  # no black pixels: the edge is repeated
    for face, crop in crop_faces(cut) + crop_faces(astro.crop((0, 90, 400, 400))):
        assert crop.size == (48, 48)


def test_without_landmarks_the_crop_is_the_plain_square():
    ramp = np.tile((np.arange(400) // 2).astype(np.uint8)[None, :, None], (300, 1, 3))  # value = x / 2
    face = Face((100.0, 100.0, 80.0, 100.0), 1.0, None)  # square: centre (140, 150), side 100 at margin 0
    crop = np.asarray(align_face(Image.fromarray(ramp), face, size=50, margin=0.0)).astype(float)
    assert abs(crop[:, 0].mean() - 91 / 2) < 1.5 and abs(crop[:, -1].mean() - 189 / 2) < 1.5
    assert np.ptp(crop[:, 25]) < 1  # no rotation: columns stay constant


def test_alignment_rotates_about_the_eyes_direction():
    ramp = np.tile((np.arange(400) // 2).astype(np.uint8)[None, :, None], (400, 1, 3))
    marks = ((180.0, 180.0), (220.0, 220.0), (200.0, 210.0), (185.0, 230.0), (215.0, 235.0))  # eyes at 45 deg
    face = Face((150.0, 150.0, 100.0, 100.0), 1.0, marks)
    assert eye_angle(face) == pytest.approx(45)
    crop = np.asarray(align_face(Image.fromarray(ramp), face, size=64, margin=0.0)).astype(float)[..., 0]
    # the image's x axis (the ramp) now runs from the crop's bottom-left corner to its top-right one
    assert crop[-1, 0] + 20 < crop[0, 0] < crop[0, -1] - 20 and abs(crop[0, 0] - crop[-1, -1]) < 2
    level = np.asarray(align_face(Image.fromarray(ramp), face, size=64, margin=0.0, align=False)).astype(float)[..., 0]
    assert np.ptp(level[:, 32]) < 1


def test_big_faces_are_shrunk_without_aliasing():
    stripes = np.zeros((1200, 1200, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: sampling every 20th pixel would give pure black or white
    face = Face((100.0, 100.0, 1000.0, 1000.0), 1.0, None)
    crop = np.asarray(align_face(Image.fromarray(stripes), face, size=48, margin=0.0)).astype(float)
    assert abs(crop.mean() - 127.5) < 3 and crop.std() < 6


def test_whole_detector_crop_is_the_image_resized(astro):
    [(face, crop)] = crop_faces(astro.crop((0, 0, 300, 200)), settings=FaceSettings(detector="whole", size=40))
    assert face.box == (0.0, 0.0, 300.0, 200.0) and face.landmarks is None and crop.size == (40, 40)
    expected = np.asarray(astro.crop((0, 0, 300, 200)).resize((40, 40), Image.BILINEAR), float)
    assert np.abs(np.asarray(crop, float) - expected).mean() < 1
