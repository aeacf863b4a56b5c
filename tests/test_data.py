import pandas as pd
import pytest
from PIL import Image

from facexp.data import read_manifest
from facexp.errors import DataError
from helpers import make_shapes_dataset


def test_folder_manifest_counts_classes(shapes_dir):
    m = read_manifest(shapes_dir)
    assert m.classes == ["circle", "square", "triangle"]
    assert m.counts() == {"circle": 24, "square": 24, "triangle": 24}


def test_csv_manifest_with_split_and_relative_paths(shapes_dir, tmp_path):
    rows = [(f"{p.parent.name}/{p.name}", p.parent.name, "valid" if i % 4 == 0 else "train")
            for i, p in enumerate(sorted(shapes_dir.rglob("*.png")))]
    csv = shapes_dir / "manifest.csv"
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(csv, index=False)
    try:
        m = read_manifest(csv)
        assert len(m.items) == 72 and set(m.items["split"]) == {"train", "valid"}
        assert all(p.startswith(str(shapes_dir)) for p in m.items["path"])
    finally:
        csv.unlink()


def test_broken_images_are_skipped_and_listed_not_modified(tmp_path):
    root = make_shapes_dataset(tmp_path / "d", n_per_class=3)
    bad = root / "circle" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "square" / "readme.txt").write_text("not an image, ignored")
    before = bad.read_bytes()
    m = read_manifest(root)
    assert len(m.items) == 9
    assert [p for p, _ in m.skipped] == [str(bad.resolve())]
    assert bad.read_bytes() == before


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file or folder"),
    ("empty", "no images in class sub-folders"),
    ("single", "at least 2 classes"),
    ("empty_class", "hold no readable image"),
    ("loose", "move them into one sub-folder per class"),
    ("bad_csv", "needs columns path and label"),
])
def test_bad_data_gives_a_clear_error(tmp_path, case, message):
    root = tmp_path / "data"
    if case != "missing":
        root.mkdir()
    if case in ("single", "empty_class"):
        make_shapes_dataset(root, n_per_class=2, classes=("circle",))
    if case == "empty_class":
        (root / "square").mkdir()
        make_shapes_dataset(root, n_per_class=2, classes=("triangle",))
    if case == "loose":
        Image.new("RGB", (8, 8)).save(root / "a.png")
    if case == "bad_csv":
        root = tmp_path / "m.csv"
        root.write_text("file,class\na.png,x\n")
    with pytest.raises(DataError, match=message):
        read_manifest(root)
