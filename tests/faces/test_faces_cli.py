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

