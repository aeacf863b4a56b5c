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
    ("empty_class", "no readable image in class folder"),
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


def _soft_csv(tmp_path, text: str):
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    csv = tmp_path / "soft.csv"
    csv.write_text(text)
    return csv


def test_soft_label_manifest_is_normalised_in_column_order(tmp_path):
    csv = _soft_csv(tmp_path, ",path,split,sad,happy,neutral,_note\n"  # a saved index column, a note column
                              "0,a.png,train,8,1,1,x\n1,b.png,valid,2,2,1,tie\n2,c.png,train,0,0.25,0.75,\n")
    m = read_manifest(csv)
    assert m.soft and m.classes == ["sad", "happy", "neutral"]  # the file's order, notes ignored
    probs = m.items[m.classes].to_numpy()
    assert probs.sum(axis=1) == pytest.approx([1, 1, 1]) and probs[0].tolist() == pytest.approx([0.8, 0.1, 0.1])
    assert list(m.items["label"]) == ["sad", "sad", "neutral"]  # a tie goes to the first tied column
    assert m.tied().tolist() == [False, True, False]
    assert m.counts() == {"sad": 2, "happy": 0, "neutral": 1}  # majority counts, every class listed
    sub = m.subset(["happy", "neutral"])  # renormalised over the kept columns; rows with no mass dropped
    assert sub.classes == ["happy", "neutral"] and len(sub.items) == 3
    assert sub.items[["happy", "neutral"]].to_numpy()[1].tolist() == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.parametrize("text, message", [
    ("path,sad,happy\na.png,1,-2\n", r"soft.csv: class column 'happy' line 2 is negative"),
    ("path,sad,happy\na.png,1,1\nb.png,0,0\n", r"soft.csv: line 3 \(b.png\) has class values summing to 0"),
    ("path,sad,happy\na.png,1,lots\n", r"soft.csv: class column 'happy' is not numeric: line 2 holds 'lots'"),
    ("path,sad,happy\na.png,1,\n", r"soft.csv: class column 'happy' is not numeric: line 2 holds ''"),
    ("path,split,sad\na.png,train,1\n", r"soft.csv: needs at least 2 class columns .*found \['sad'\]"),
])
def test_bad_soft_label_manifest_names_file_and_place(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_manifest(_soft_csv(tmp_path, text))
