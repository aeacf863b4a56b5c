"""extract_faces on a small folder: every photo reported, sub-folders kept, detection cached."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PIL import Image
from skimage.data import coffee

from faces_helpers import make_collage
from facexp.errors import ConfigError, DataError
from facexp.faces import FaceSettings, extract_faces, looks_like_face_crop, read_crops_info
from helpers import shared_path
from facexp.faces import extract as extract_module


@pytest.fixture(scope="module")
def raw(astro, tmp_path_factory):
    """happy/: one face (JPEG and a same-stem PNG), two faces; sad/: no face, a broken file."""
    root = tmp_path_factory.mktemp("raw")
    (root / "happy").mkdir()
    (root / "sad").mkdir()
    astro.save(root / "happy" / "one.jpg", quality=92)
    astro.resize((400, 400)).save(root / "happy" / "one.png")
    make_collage(astro, specs=(((20, 20), 1.0, 0), ((420, 200), 0.8, 10)), size=(700, 460)).save(root / "happy" / "two.jpg")
    Image.fromarray(coffee()).save(root / "sad" / "none.jpg")
    (root / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


@pytest.fixture(scope="module")
def first(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    return out, extract_faces(raw, out)


def test_every_photo_is_reported_with_its_status(first):
    out, report = first
    status = {r.path: r.status for r in report.records}
    assert status == {"happy/one.jpg": "ok", "happy/one.png": "ok", "happy/two.jpg": "multiple_faces",
                      "sad/none.jpg": "no_face", "sad/broken.jpg": "unreadable"}
    assert report.counts() == {"ok": 2, "whole": 0, "no_face": 1, "multiple_faces": 1, "unreadable": 1}
    assert report.n_detected == 4 and report.n_crops == 3
    broken = next(r for r in report.records if r.status == "unreadable")
    assert "broken.jpg" in broken.message and "not a readable image" in broken.message
    assert "5 photos: 2 ok, 1 no_face, 1 multiple_faces, 1 unreadable; 3 crops" in report.summary_line()


def test_crops_keep_the_class_folders_and_the_csv_lists_them(first):
    out, report = first
    rows = list(csv.DictReader(open(report.report_path, encoding="utf-8")))
    assert report.report_path == out / "faces_report.csv" and len(rows) == 5
    assert list(rows[0]) == ["path", "n_faces", "status", "crop", "framing", "message"]
    crops = {row["path"]: row["crop"] for row in rows}
    # one.jpg and one.png share a stem, so their crops keep the extension apart
    assert crops["happy/one.jpg"] == "happy/one_jpg.png" and crops["happy/one.png"] == "happy/one_png.png"
    assert crops["happy/two.jpg"] == "happy/two.png" and crops["sad/none.jpg"] == ""
    for name in ("happy/one_jpg.png", "happy/one_png.png", "happy/two.png"):
        with Image.open(out / name) as crop:
            assert crop.size == (48, 48)
    assert not list(out.rglob("*.tmp"))


def test_second_run_detects_nothing(raw, first, monkeypatch):
    out, _ = first

    def no_detection(*args, **kwargs):
        raise AssertionError("detected again although every photo is cached")

    monkeypatch.setattr(extract_module, "detect_faces_batch", no_detection)
    again = extract_faces(raw, out)
    assert again.n_detected == 0 and again.counts() == first[1].counts()
    # the cache is keyed by content and detection settings: another margin or mode re-crops only
    recropped = extract_faces(raw, out, settings=FaceSettings(margin=0.2, size=32), mode="all")
    assert recropped.n_detected == 0 and recropped.n_crops == 4
    assert (out / "happy" / "two_face1.png").exists()


def test_a_shared_cache_dir_serves_another_output_folder(raw, tmp_path):
    cache = tmp_path / "cache"
    assert extract_faces(raw, tmp_path / "a", cache_dir=cache).n_detected == 4
    assert extract_faces(raw, tmp_path / "b", cache_dir=cache).n_detected == 0
    assert (cache / ".faces_cache.jsonl").exists() and not (tmp_path / "b" / ".faces_cache.jsonl").exists()


def test_an_interrupted_cache_line_is_ignored(raw, tmp_path):
    out = tmp_path / "out"
    extract_faces(raw, out)
    cache_file = out / ".faces_cache.jsonl"
    lines = cache_file.read_text().splitlines()
    cache_file.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    assert extract_faces(raw, out).n_detected == 1


def test_output_inside_the_source_is_not_read_back(raw, tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    (src / "a.png").write_bytes((raw / "happy" / "one.png").read_bytes())
    extract_faces(src, src / "faces")
    assert [r.path for r in extract_faces(src, src / "faces").records] == ["a.png"]


def test_bad_arguments_are_clear_errors(raw, tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        extract_faces(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        extract_faces(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ConfigError, match="largest, all"):
        extract_faces(raw, tmp_path / "out", mode="biggest")


def test_the_settings_travel_with_the_crops(raw, first, tmp_path):
    out = tmp_path / "out"
    settings = FaceSettings(margin=0.1, size=40)
    report = extract_faces(raw, out, settings=settings, cache_dir=first[0])  # cached: no detection
    info = read_crops_info(out)
    assert info.settings == settings.to_dict() and info.counts == report.counts()
    assert sorted(Path(p).name for p, _ in info.dropped) == ["broken.jpg", "none.jpg"]
    assert dict((Path(p).name, r) for p, r in info.dropped)["none.jpg"] == "no face found"
    assert read_crops_info(out / "happy") is None  # not a folder `facexp faces` wrote


def test_small_square_images_without_a_face_are_kept_whole(tmp_path):
    """Tight face crops (FER2013: MTCNN finds no face in ~16%) are kept whole; real photos never are."""
    src = tmp_path / "src" / "any"
    src.mkdir(parents=True)
    photo = Image.fromarray(coffee())  # 600 x 400, no face
    photo.crop((100, 100, 148, 148)).save(src / "crop48.png")
    photo.crop((0, 0, 200, 180)).save(src / "crop200.png")
    photo.crop((0, 0, 300, 300)).save(src / "big300.png")  # larger than any face-crop dataset's crops
    photo.crop((0, 0, 200, 100)).save(src / "strip.png")  # not square
    photo.save(src / "photo.jpg")
    report = extract_faces(tmp_path / "src", tmp_path / "out")
    status = {r.path: (r.status, r.framing) for r in report.records}
    assert status == {"any/crop48.png": ("whole", "whole"), "any/crop200.png": ("whole", "whole"),
                      "any/big300.png": ("no_face", ""), "any/strip.png": ("no_face", ""),
                      "any/photo.jpg": ("no_face", "")}
    with Image.open(tmp_path / "out" / "any" / "crop200.png") as kept:
        assert kept.size == (48, 48)
    assert "3 photos gave no face crop" in report.dropped_line() and "strip.png" in report.dropped_line()
    off = extract_faces(tmp_path / "src", tmp_path / "off", whole_fallback=False)
    assert off.counts()["whole"] == 0 and off.counts()["no_face"] == 5
    assert not looks_like_face_crop(972, 900) and not looks_like_face_crop(1280, 853)  # the shared photos' sizes


def test_fer2013_crops_are_all_kept():
    fer = shared_path("fer2013", "train")
    paths = sorted((fer / "happy").iterdir())[:40] + sorted((fer / "sad").iterdir())[:40]
    assert all(looks_like_face_crop(*Image.open(p).size) for p in paths)
