import csv

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut, coffee

from helpers import shared_path
from facexp.errors import ConfigError
from facexp.faces import (FaceSettings, align_face, crop_faces, detect_faces, detect_faces_batch, draw_faces,
                          extract_faces, eye_angle, list_detectors)


@pytest.fixture(scope="module")
def astro() -> Image.Image:
    return Image.fromarray(astronaut())


def face_crop(astro: Image.Image) -> Image.Image:
    return astro.crop((140, 20, 310, 220))  # the astronaut's head with some margin


@pytest.fixture(scope="module")
def collage(astro):
    """Four astronaut heads at different scales and rotations on a plain background."""
    canvas = Image.new("RGB", (900, 600), (200, 205, 210))
    specs = [((30, 40), 1.0, 0), ((330, 60), 0.7, 20), ((560, 280), 1.3, -15), ((120, 360), 0.8, 0)]
    for (x, y), scale, angle in specs:
        head = face_crop(astro)
        head = head.resize((int(head.width * scale), int(head.height * scale)))
        if angle:
            head = head.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=(200, 205, 210))
        canvas.paste(head, (x, y))
    return canvas, specs


def test_astronaut_has_one_face_with_landmarks(astro):
    faces = detect_faces(astro)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 150 < x + w / 2 < 280 and 60 < y + h / 2 < 180 and faces[0].score > 0.95
    assert len(faces[0].landmarks) == 5


def test_collage_finds_every_face_and_levels_the_eyes(collage):
    canvas, specs = collage
    faces = detect_faces(canvas)
    assert len(faces) == len(specs)
    rotated = [f for f in faces if abs(eye_angle(f)) > 8]
    assert len(rotated) == 2  # the two heads pasted at +20 and -15 degrees
    for face in rotated:
        crop = align_face(canvas, face, size=160, margin=0.1)
        again = detect_faces(crop)
        assert again and abs(eye_angle(again[0])) < 5


def test_no_face_is_an_empty_list(tmp_path):
    assert detect_faces(Image.fromarray(coffee())) == []
    assert detect_faces(Image.new("RGB", (300, 200), "gray")) == []


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_any_mode_works(astro, mode):
    assert len(detect_faces(astro.convert(mode))) == 1


def test_crops_have_the_configured_size_and_border_faces_do_not_crash(astro):
    settings = FaceSettings(size=40, margin=0.5)
    edge = astro.crop((200, 0, 512, 300))  # the face is cut by the left border
    for face, crop in crop_faces(edge, settings=settings) + crop_faces(astro, settings=settings):
        assert crop.size == (40, 40)


def test_batch_matches_single(astro, collage):
    batch = detect_faces_batch([astro, collage[0], astro])
    assert [len(b) for b in batch] == [1, 4, 1]


def test_every_registered_detector_runs(astro):
    for name in list_detectors():
        faces = detect_faces(astro, settings=FaceSettings(detector=name))
        assert len(faces) >= 1


def test_unknown_detector_and_settings_are_config_errors():
    with pytest.raises(ConfigError, match="Choices"):
        detect_faces(Image.new("RGB", (10, 10)), settings=FaceSettings(detector="yolo"))
    with pytest.raises(ConfigError, match="unknown face settings"):
        FaceSettings.from_dict({"marginn": 0.1})


def test_draw_faces_marks_the_box(astro):
    out = draw_faces(astro, [(100, 100, 50, 50)], ["happy 90%"])
    assert out.size == astro.size and np.abs(np.asarray(out, int) - np.asarray(astro, int)).sum() > 0


def test_extract_faces_reports_every_photo_and_caches(astro, collage, tmp_path):
    src = tmp_path / "raw" / "happy"
    src.mkdir(parents=True)
    astro.save(src / "one.jpg")
    collage[0].save(src / "four.png")
    Image.fromarray(coffee()).save(src / "none.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "faces"
    report = extract_faces(tmp_path / "raw", out)
    status = {row["path"].split("/")[-1]: row["status"] for row in report.rows}
    assert status == {"one.jpg": "ok", "four.png": "multiple_faces", "none.jpg": "no_face", "broken.jpg": "unreadable"}
    assert (out / "happy" / "one.png").exists() and (out / "happy" / "four.png").exists()
    rows = list(csv.DictReader(open(out / "faces_report.csv")))
    assert len(rows) == 4
    import facexp.faces.extract as extract

    calls = []
    original = extract._extract_one
    extract._extract_one = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        extract_faces(tmp_path / "raw", out)
    finally:
        extract._extract_one = original
    assert calls == []  # second run: everything from the cache
    every = extract_faces(tmp_path / "raw", tmp_path / "all", mode="all")
    assert every.n_crops == 5


def test_shared_photos():
    photos = shared_path("photos")
    from facexp.imageio import open_image

    assert len(detect_faces(open_image(photos / "group.jpeg"))) >= 4
    assert detect_faces(open_image(photos / "non_face.jpg")) == []
    for name in ("happy-baby.jpeg", "sad-baby.jpeg", "surprised.jpeg", "angry.jpg", "neutral.jpeg"):
        assert len(detect_faces(open_image(photos / name))) == 1, name
