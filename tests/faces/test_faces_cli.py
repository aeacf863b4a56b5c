"""`facexp faces DATA OUT` through typer's CliRunner: the summary table, and errors as one line."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from facexp.faces.cli import faces_command

app = typer.Typer()
app.command()(faces_command)


def test_faces_command_prints_a_summary(astro, tmp_path):
    (tmp_path / "raw" / "happy").mkdir(parents=True)
    astro.save(tmp_path / "raw" / "happy" / "a.png")
    (tmp_path / "raw" / "happy" / "bad.jpg").write_text("not an image")
    result = CliRunner().invoke(app, [str(tmp_path / "raw"), str(tmp_path / "out"), "--detector", "whole",
                                      "--size", "40"])
    assert result.exit_code == 0, result.output
    assert "unreadable" in result.output and "faces_report.csv" in result.output
    assert (tmp_path / "out" / "happy" / "a.png").exists()


def test_errors_are_one_line_with_the_exit_code(tmp_path):
    result = CliRunner().invoke(app, [str(tmp_path / "nope"), str(tmp_path / "out")])
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [f"facexp: DataError: {tmp_path / 'nope'}: no such folder; "
                                                  "pass a folder of photos (class sub-folders are kept)"]
    bad = CliRunner().invoke(app, [str(tmp_path), str(tmp_path / "out"), "--detector", "yolo"])
    assert bad.exit_code == 2 and "Choices: mtcnn, whole" in bad.output



def test_a_folder_of_face_crops_is_pointed_to_the_whole_detector(astro, tmp_path):
    (tmp_path / "fer" / "happy").mkdir(parents=True)
    face = astro.crop((170, 50, 280, 180))
    for k in range(3):  # FER-like: 48 x 48 gray face crops
        face.rotate(4 * k).resize((48, 48)).convert("L").save(tmp_path / "fer" / "happy" / f"{k}.png")
    astro.save(tmp_path / "fer" / "happy" / "photo.png")  # one real photo among them
    result = CliRunner().invoke(app, [str(tmp_path / "fer"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "most of these 4 images are small square face crops already" in result.output
    assert "`--detector whole`" in result.output
    result = CliRunner().invoke(app, [str(tmp_path / "fer"), str(tmp_path / "out2"), "--detector", "whole"])
    assert "--detector whole" not in result.output  # already chosen


def test_photos_get_no_face_crop_note(astro, tmp_path):
    (tmp_path / "raw" / "happy").mkdir(parents=True)
    astro.save(tmp_path / "raw" / "happy" / "a.png")
    result = CliRunner().invoke(app, [str(tmp_path / "raw"), str(tmp_path / "out")])
    assert result.exit_code == 0 and "face crops already" not in result.output
