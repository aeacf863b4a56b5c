"""URL-list parsing as exports really are (no network)."""

from __future__ import annotations

import base64

import pytest

from collect_host import CLASSES, export_lines, image_bytes
from facexp.collect import decode_data_uri, read_url_list
from facexp.collect.sources import source_key
from facexp.errors import DataError


def test_real_export_blank_lines_and_cross_class_repeats(tmp_path):
    lists = {}
    for label in CLASSES:
        lines = export_lines(label)
        (tmp_path / f"{label}.txt").write_text("\n".join(lines) + "\n")
        lists[label] = read_url_list(tmp_path / f"{label}.txt")
        urls = [line.strip() for line in lines if line.strip()]
        assert [i.url for i in lists[label].items] == list(dict.fromkeys(urls))
        assert {i.label for i in lists[label].items} == {label} and not lists[label].skipped
        assert lines[0] == ""  # the exports start with blank lines (thumbnails without a URL)
    by_url: dict[str, set[str]] = {}
    for label, url_list in lists.items():
        for item in url_list.items:
            by_url.setdefault(item.url, set()).add(label)
    assert any(len(labels) > 1 for labels in by_url.values())  # the same URL filed under two classes


def test_blanks_repeats_comments_crlf_bom_and_data_uris(tmp_path):
    png = image_bytes("inline", "PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(png).decode()
    text = "\ufeff" + "\r\n".join(["", "https://a.example/1.jpg", "https://a.example/1.jpg", "# a comment", "  ",
                              data_uri, "not a url", '"https://a.example/2.jpg"', "ftp://a.example/3.jpg", ""])
    (tmp_path / "happy.txt").write_bytes(text.encode())
    parsed = read_url_list(tmp_path / "happy.txt")
    assert [i.url for i in parsed.items] == ["https://a.example/1.jpg", data_uri, "https://a.example/2.jpg"]
    assert parsed.n_repeats == 1 and [n for n, _ in parsed.skipped] == [7, 9]
    assert {i.origin for i in parsed.items} == {"list:happy.txt"}
    assert decode_data_uri(data_uri) == png
    assert source_key(data_uri).startswith("data:sha256:") and len(source_key(data_uri)) < 100
    with pytest.raises(ValueError, match="base64"):
        decode_data_uri("data:image/png;base64,@@@")


def test_csv_url_and_label_columns(tmp_path):
    path = tmp_path / "exports.csv"
    path.write_text("Label,URL,note\nhappy,https://a/1.jpg,x\nsad,https://a/2.jpg,\nsad,,empty\n,https://a/3.jpg,\n"
                    "sad,https://a/1.jpg,again\n")
    parsed = read_url_list(path, label_column="label")
    assert [(i.url, i.label) for i in parsed.items] == [("https://a/1.jpg", "happy"), ("https://a/2.jpg", "sad"),
                                                        ("https://a/1.jpg", "sad")]
    assert [n for n, _ in parsed.skipped] == [5]  # a URL without a label is reported, not guessed
    with pytest.raises(DataError, match=r"no column 'link'.*pass --url-column"):
        read_url_list(path, url_column="link")
    with pytest.raises(DataError, match="did you mean 'label'"):
        read_url_list(path, label_column="labels")
    headerless = tmp_path / "laugh.csv"
    headerless.write_text("https://a/1.jpg\nhttps://a/2.jpg\n")
    assert [i.label for i in read_url_list(headerless).items] == ["laugh", "laugh"]
    tsv = tmp_path / "list.tsv"
    tsv.write_text("url\tlabel\nhttps://a/9.jpg\tangry\n")
    assert read_url_list(tsv, label_column="label").items[0].label == "angry"


@pytest.mark.parametrize("label", ["../escape", ".hidden", "a/b", ""])
def test_labels_that_cannot_be_folders_are_refused(tmp_path, label):
    path = tmp_path / "x.csv"
    path.write_text(f"url,label\nhttps://a/1.jpg,{label}\n")
    if label:
        with pytest.raises(DataError, match="cannot be a class folder name"):
            read_url_list(path, label_column="label")
    else:
        assert read_url_list(path, label_column="label").skipped


def test_missing_list_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.txt: cannot read the URL list"):
        read_url_list(tmp_path / "nope.txt")
