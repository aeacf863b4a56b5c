"""Folder/zip import and de-duplication: exact, near, conflicts, moving aside and back, never deleting."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile

import imagehash
import numpy as np
import pytest
from PIL import Image

from collect_host import image_bytes, resized_copy
from facexp.collect import ManifestDB, collect_folder, dedup, find_near_pairs, mark_duplicates
from facexp.errors import ConfigError, DataError
from facexp.imageio import list_images


def phash_distance(a: bytes, b: bytes) -> int:
    return imagehash.phash(Image.open(io.BytesIO(a))) - imagehash.phash(Image.open(io.BytesIO(b)))


def usable(out) -> list[tuple[str, str]]:
    with open(out / "manifest.csv") as fh:
        return sorted((r["path"], r["label"]) for r in csv.DictReader(fh))


def all_image_files(root) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png"))


@pytest.fixture()
def faces(tmp_path):
    """Class folders with an exact copy, a resized copy, a label conflict, a broken file, a loose file."""
    src = tmp_path / "faces"
    for label, keys in (("happy", ["a0", "a1", "a2", "a3"]), ("sad", ["s0", "s1", "s2"])):
        (src / label).mkdir(parents=True)
        for key in keys:
            (src / label / f"{key}.jpg").write_bytes(image_bytes(key))
    (src / "happy" / "copy_of_a0.jpg").write_bytes(image_bytes("a0"))
    (src / "happy" / "small_a1.jpg").write_bytes(resized_copy(image_bytes("a1")))
    (src / "happy" / "2020" / "trip").mkdir(parents=True)
    (src / "happy" / "2020" / "trip" / "deep.png").write_bytes(image_bytes("deep", "PNG"))
    (src / "sad" / "also_a2.jpg").write_bytes(image_bytes("a2"))
    (src / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (src / "loose.jpg").write_bytes(image_bytes("loose"))
    (src / ".hidden").mkdir()
    (src / ".hidden" / "x.jpg").write_bytes(image_bytes("hidden"))
    return src


def test_folder_import_then_near_dedup_apply_and_undo(faces, tmp_path):
    out = tmp_path / "data"
    report = collect_folder(faces, out)
    by_name = {r.source.rsplit("/", 1)[-1]: r for r in report.records}
    assert len(by_name) == 12 and "loose.jpg" not in by_name and "x.jpg" not in by_name
    assert by_name["deep.png"].label == "happy"  # class = first folder, however deep
    assert by_name["broken.jpg"].reason == "truncated" or by_name["broken.jpg"].reason == "not_image"
    assert by_name["copy_of_a0.jpg"].status == "duplicate"  # exact duplicates are marked by every run
    assert by_name["copy_of_a0.jpg"].path == by_name["a0.jpg"].path  # ... and share one file
    assert by_name["a2.jpg"].status == by_name["also_a2.jpg"].status == "conflict"
    assert by_name["small_a1.jpg"].status == "ok"  # near duplicates wait for `facexp dedup`

    d = phash_distance(image_bytes("a1"), resized_copy(image_bytes("a1")))
    assert 1 <= d <= 4
    found = dedup(out, threshold=4)
    records = {r.source.rsplit("/", 1)[-1]: r for r in ManifestDB(out).records()}
    assert records["small_a1.jpg"].status == "duplicate"
    assert records["small_a1.jpg"].duplicate_of == records["a1.jpg"].id  # the larger one is kept
    assert f"perceptual distance {d}" in records["small_a1.jpg"].detail
    assert (found.n_duplicates, found.n_conflicts, found.n_conflict_groups) == (2, 2, 1)
    assert all_image_files(out) == 10 and found.n_moved == 0  # a report only

    n_files = all_image_files(out)
    applied = dedup(out, threshold=4, apply=True)
    assert applied.n_moved == 3  # the resized copy and both conflict files; the exact copy shares a0's file
    assert all_image_files(out) == n_files  # moved, never deleted
    assert len(list((out / ".duplicates" / "happy").iterdir())) == 1
    assert len(list((out / ".conflicts").rglob("*.jpg"))) == 2
    # the folder now says what manifest.csv says, for trainers that read class folders (as
    # facexp.data does: visible sub-folders are the classes)
    on_disk = sorted((p.relative_to(out).as_posix(), d.name) for d in out.iterdir()
                     if d.is_dir() and not d.name.startswith(".") for p in list_images(d))
    assert on_disk == usable(out) and len(on_disk) == 7

    undone = dedup(out, threshold=d - 1, apply=True)  # a stricter threshold: the resized copy is usable again
    assert undone.n_restored == 1 and undone.n_duplicates == 1
    assert len(usable(out)) == 8 and all((out / p).is_file() for p, _ in usable(out))
    again = collect_folder(faces, out)  # a rerun keeps the stored threshold and copies nothing new
    assert again.n_duplicates == 1 and again.n_ok == 8


def test_dedup_indexes_a_plain_folder_in_place(faces):
    (faces / "loose.jpg").unlink()
    names_before = sorted(p.relative_to(faces).as_posix() for p in faces.rglob("*") if p.is_file())
    report = dedup(faces, threshold=4, apply=True)
    assert report.n_indexed == 12 and report.n_duplicates == 2 and report.n_conflicts == 2
    assert (faces / ".duplicates" / "happy" / "small_a1.jpg").is_file()  # original names kept
    assert (faces / ".duplicates" / "happy" / "copy_of_a0.jpg").is_file()
    names_after = sorted(p.relative_to(faces).as_posix() for p in faces.rglob("*") if p.is_file()
                         and not p.name.startswith(("manifest", "failures", "duplicates", "conflicts", ".facexp")))
    assert len(names_after) == len(names_before)


def test_zip_with_a_wrapping_folder(tmp_path):
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("faces/happy/a.jpg", image_bytes("z1"))
        z.writestr("faces/sad/b.jpg", image_bytes("z2"))
        z.writestr("faces/sad/c.jpg", image_bytes("z3"))
        z.writestr("__MACOSX/faces/happy/._a.jpg", b"resource fork")
        z.writestr("faces/README.txt", b"not an image")
    report = collect_folder(archive, tmp_path / "data")
    assert sorted((r.label, r.status) for r in report.records) == [("happy", "ok"), ("sad", "ok"), ("sad", "ok")]
    assert all(r.source.startswith(f"{archive.resolve()}!/faces/") for r in report.records)


def test_folder_errors_name_the_input(tmp_path):
    with pytest.raises(DataError, match="no such folder or zip"):
        collect_folder(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(image_bytes("a"))
    with pytest.raises(DataError, match="no images in class sub-folders.*1 image"):
        collect_folder(tmp_path / "flat", tmp_path / "out")
    with pytest.raises(ConfigError, match="--threshold"):
        dedup(tmp_path, threshold=65)


def test_near_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 40, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, 200).astype(np.uint64)
    hashes = np.concatenate([base, base[rng.integers(0, 40, 200)] ^ flips])
    i, j, d = find_near_pairs(hashes, 3)
    brute = {(a, b) for a in range(len(hashes)) for b in range(a + 1, len(hashes))
             if bin(int(hashes[a]) ^ int(hashes[b])).count("1") <= 3}
    assert set(zip(i.tolist(), j.tolist())) == brute and (d <= 3).all()


def test_no_chaining_and_conflicts_reach_the_kept_image(tmp_path):
    """A~B~C with A and C far apart: C is not a duplicate of A. B(happy) dropped as a duplicate of
    A(happy) but close to D(sad): A and D are the conflict."""
    a = 0
    b = a ^ 0b111  # 3 bits from A
    c = b ^ 0b111000  # 3 from B, 6 from A
    far = (1 << 64) - 1
    d = b ^ (0b11 << 40)  # 2 bits from B, 5 from A
    with ManifestDB(tmp_path) as db:
        db.add_items([("A", "happy", ""), ("B", "happy", ""), ("C", "happy", ""), ("D", "sad", ""), ("E", "sad", "")])
        for item_id, value in zip(range(1, 6), (a, b, c, d, far)):
            db.record_ok(item_id, path=f"x/{item_id}.jpg", sha256=f"{item_id:064x}", phash=f"{value:016x}",
                         width=10, height=10, format="JPEG", n_bytes=100)
        assert mark_duplicates(db, threshold=4) == 1
        status = {r.source: (r.status, r.duplicate_of) for r in db.records()}
    assert status == {"A": ("conflict", None), "B": ("duplicate", 1), "C": ("ok", None), "D": ("conflict", None),
                      "E": ("ok", None)}


def test_files_deleted_by_hand_never_reach_the_manifest_and_come_back_on_rerun(faces, tmp_path):
    out = tmp_path / "data"
    first = {r.source.rsplit("/", 1)[-1]: r for r in collect_folder(faces, out).records}
    dedup(out, threshold=4, apply=True)
    shutil.rmtree(out / ".duplicates")  # "I have seen them, away with them"
    (out / first["a0.jpg"].path).unlink()  # shared by the exact copy
    report = dedup(out, threshold=4, apply=True)  # no crash over the missing files
    records = {r.source.rsplit("/", 1)[-1]: r for r in ManifestDB(out).records()}
    assert records["a0.jpg"].reason == records["copy_of_a0.jpg"].reason == "missing_file"
    assert all((out / p).is_file() for p, _ in usable(out)) and report.n_duplicates == 1
    again = {r.source.rsplit("/", 1)[-1]: r for r in collect_folder(faces, out).records}
    assert again["a0.jpg"].status == "ok" and again["copy_of_a0.jpg"].status == "duplicate"


def test_many_identical_copies_follow_their_first_copy(tmp_path):
    """A big picture, a smaller near copy of it served 300 times (one sha256): all 300 copies end
    as duplicates of the big one, and the search compares 2 distinct pictures, not 45,000 pairs."""
    with ManifestDB(tmp_path) as db:
        db.add_items([("big", "happy", "")] + [(f"copy{i}", "happy", "") for i in range(300)])
        db.record_ok(1, path="happy/big.jpg", sha256="b" * 64, phash=f"{0:016x}", width=400, height=400,
                     format="JPEG", n_bytes=9000)
        for item_id in range(2, 302):
            db.record_ok(item_id, path="happy/small.jpg", sha256="s" * 64, phash=f"{0b11:016x}", width=50,
                         height=50, format="JPEG", n_bytes=900)
        mark_duplicates(db, threshold=4)
        records = db.records()
    assert records[0].status == "ok"
    assert {(r.status, r.duplicate_of) for r in records[1:]} == {("duplicate", 1)}
    assert "perceptual distance 2" in records[1].detail and "identical bytes to #2" in records[2].detail


def test_output_folder_inside_the_source_is_not_an_input(tmp_path):
    (tmp_path / "photos" / "happy").mkdir(parents=True)
    (tmp_path / "photos" / "happy" / "a.jpg").write_bytes(image_bytes("a"))
    for _ in range(2):
        report = collect_folder(tmp_path / "photos", tmp_path / "photos" / "dataset")
        assert [(r.label, r.status) for r in report.records] == [("happy", "ok")]


def test_a_link_to_nothing_is_recorded_as_unreadable(tmp_path):
    """A dangling symlink in a class folder is one failure row naming it, not a traceback."""
    src = tmp_path / "src"
    (src / "happy").mkdir(parents=True)
    (src / "sad").mkdir()
    (src / "happy" / "a.jpg").write_bytes(image_bytes("l1"))
    (src / "sad" / "b.jpg").write_bytes(image_bytes("l2"))
    (src / "sad" / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    report = collect_folder(src, tmp_path / "data")
    assert sorted((r.label, r.status) for r in report.records) == [("happy", "ok"), ("sad", "failed"), ("sad", "ok")]
    failures = (tmp_path / "data" / "failures.csv").read_text()
    assert "gone.jpg" in failures and "unreadable" in failures
