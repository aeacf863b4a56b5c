"""Counts in messages read as English."""

from facexp._plural import counted


def test_counts_take_the_right_form():
    assert [counted(n, "face") for n in (0, 1, 2)] == ["0 faces", "1 face", "2 faces"]
    assert counted(1, "person") == "1 person" and counted(3, "person") == "3 people"
    assert counted(2, "class") == "2 classes" and counted(2, "test image") == "2 test images"
    assert counted(1200, "image") == "1,200 images"
