"""Drawing boxes and labels on photos."""

from __future__ import annotations

import numpy as np
import pytest
from facexp.faces import Face, clip_box, detect_faces, draw_faces


def test_boxes_and_labels_are_drawn_on_a_copy(astro):
    faces = detect_faces(astro)
    before = np.asarray(astro).copy()
    out = draw_faces(astro, faces, ["happy 93%"])
    assert out.size == astro.size and out is not astro
    diff = np.abs(np.asarray(out, int) - np.asarray(astro, int)).sum(axis=2) > 0
    x, y, w, h = (round(v) for v in faces[0].box)
    assert diff[y + h // 2, x - 2:x + 3].any() and diff[y + h // 2, x + w - 2:x + w + 3].any()  # both sides
    assert diff[:y].sum() > 200  # the label tag sits above the box
    assert np.array_equal(np.asarray(astro), before)  # the caller's image is untouched


def test_plain_boxes_work_too_and_tags_stay_inside(astro):
    out = draw_faces(astro.convert("L"), [(0, 0, 60, 60), (480, 490, 40, 40)], ["top edge", "bottom right"])
    assert out.mode == "RGB" and out.size == astro.size


def test_labels_must_match_faces(astro):
    with pytest.raises(ValueError, match="2 faces but 1 labels"):
        draw_faces(astro, [Face((1, 1, 5, 5), 1.0), Face((9, 9, 5, 5), 1.0)], ["one"])


def test_no_labels_draws_boxes_only(astro):
    out = draw_faces(astro, [Face((100.0, 100.0, 50.0, 50.0), 0.99)])
    diff = np.abs(np.asarray(out, int) - np.asarray(astro, int)).sum(axis=2) > 0
    assert diff[:90].sum() == 0  # nothing above the box


def test_a_box_past_the_border_is_drawn_cut_to_the_image(astro):
    out = draw_faces(astro, [(100, -66, 200, 200)])  # a face cut off by the top edge, as MTCNN reports it
    diff = np.abs(np.asarray(out, int) - np.asarray(astro, int)).sum(axis=2) > 0
    assert diff[0, 110:290].mean() > 0.9  # the top side runs along the photo's first row
    assert clip_box((100, -66, 200, 200), 512, 512) == (100, 0, 200, 134)
    assert clip_box((500, 500, 40, 40), 512, 512) == (500, 500, 12, 12)
