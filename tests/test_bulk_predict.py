"""Bulk prediction: shards over processes (torchrun or --shard), JSONL parts, resume, merge."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from facexp.cli import app
from facexp.predict import Predictor
from facexp.predict.bulk import list_inputs, merge_parts, part_path, predict_bulk, read_parts
from test_distributed_train import launch_env, torchrun_or_skip

runner = CliRunner()


@pytest.fixture
def photos(shapes_dir, tmp_path):
    """30 shapes in two sub-folders plus one file that is not an image."""
    root = tmp_path / "photos"
    for label in ("circle", "square"):
        (root / label).mkdir(parents=True)
        for src in sorted((shapes_dir / label).iterdir())[:15]:
            shutil.copy(src, root / label / src.name)
    (root / "square" / "broken.jpg").write_bytes(b"not a jpeg at all")
    return root


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def plain_json(model, photos) -> list[dict]:
    """What `facexp predict --json` answers, one record per image, sorted by path."""
    res = runner.invoke(app, ["predict", str(photos), "--model", str(model), "--json"])
    assert res.exit_code == 3, res.output  # the broken file fails, the others are answered
    records = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    return sorted(records, key=lambda r: r["path"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_under_torchrun_answer_each_image_once_as_one_process_does(tiny_model, photos, tmp_path):
    one = predict_bulk(Predictor(tiny_model), [photos], tmp_path / "one", batch_size=8, workers=2)
    assert (one.n_ok, one.n_failed, one.merged.n_answers) == (30, 1, 31)
    merged = lines(tmp_path / "one" / "predictions.jsonl")
    assert merged == plain_json(tiny_model, photos)  # same answers as the plain command, in path order
    broken = [r for r in merged if "error" in r]
    assert [r["path"] for r in broken] == [str(photos / "square" / "broken.jpg")] and "broken.jpg" in broken[0]["error"]

    cmd = [*torchrun_or_skip(), "-m", "facexp", "predict", str(photos), "--model", str(tiny_model),
           "--bulk", str(tmp_path / "two"), "--batch", "4"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=launch_env(), timeout=280)
    assert res.returncode == 0, res.stderr[-3000:]  # a failed image is an answer, not a failed worker
    assert "shard 0/2: 16 of 31" in res.stdout and "shard 1/2: 15 of 31" in res.stdout, res.stdout
    assert (tmp_path / "two" / "predictions.jsonl").read_bytes() == (tmp_path / "one" / "predictions.jsonl").read_bytes()
    parts = [{r["path"] for r in lines(part_path(tmp_path / "two", i))} for i in (0, 1)]
    assert not parts[0] & parts[1] and len(parts[0] | parts[1]) == 31


@pytest.mark.timeout(300)
def test_explicit_shards_read_a_manifest_merge_when_complete_and_never_import_torch(tiny_model, photos, tmp_path):
    images = sorted(p for p in photos.rglob("*.png"))
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\n" + "".join(f"{p.relative_to(tmp_path).as_posix()},x\n" for p in images))
    expected = predict_bulk(Predictor(tiny_model), [manifest], tmp_path / "one", batch_size=8)  # caches the graph
    assert expected.n_inputs == 30 and expected.merged.n_failed == 0
    script = textwrap.dedent(f"""
        import sys
        from facexp.cli import app
        for shard in ("1/2", "0/2"):
            try:
                app(["predict", {str(manifest)!r}, "--model", {str(tiny_model)!r}, "--bulk", {str(tmp_path / "two")!r},
                     "--shard", shard, "--workers", "3"], standalone_mode=False)
            except SystemExit as exc:
                assert not exc.code, exc.code
        print("torch:", "torch" in sys.modules)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=launch_env(), timeout=280)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "torch: False" in res.stdout
    first, second = res.stdout.split("shard 0/2")
    assert "15 answered, 15 still to do" in first  # shard 1 alone: nothing merged yet
    assert "30 ok, 0 failed" in second
    assert (tmp_path / "two" / "predictions.jsonl").read_bytes() == (tmp_path / "one" / "predictions.jsonl").read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_interrupted_sharded_run_resumes_where_it_stopped(tiny_model, photos, tmp_path):
    """A killed process leaves complete lines and perhaps one cut short: the rerun keeps the complete
    ones, redoes the cut one, and the merge holds exactly one answer per image."""
    out = tmp_path / "bulk"
    items = list_inputs([photos])
    shard1 = items[1::2]
    kept = [{"path": p, "label": "from-the-first-run", "probs": {}, "width": 1, "height": 1, "faces": []}
            for p in shard1[:3]]
    out.mkdir()
    part_path(out, 1).write_text("".join(json.dumps(r) + "\n" for r in kept) + json.dumps(
        {"path": shard1[3], "label": "cut"})[:25])  # the kill hit mid-line
    assert set(read_parts(out)) == {r["path"] for r in kept}

    cmd = [*torchrun_or_skip(), "-m", "facexp", "predict", str(photos), "--model", str(tiny_model), "--bulk", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=launch_env(), timeout=280)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "shard 1/2: 15 of 31 images, 3 already answered; 11 ok, 1 failed" in res.stdout, res.stdout
    merged = lines(out / "predictions.jsonl")
    assert [r["path"] for r in merged] == items  # one answer per image, in input order
    assert [r["path"] for r in merged if r.get("label") == "from-the-first-run"] == shard1[:3]
    part1 = part_path(out, 1).read_text().splitlines()
    assert len(part1) == 15 and all(json.loads(line) for line in part1)  # the cut line was dropped, not glued to

    again = runner.invoke(app, ["predict", str(photos), "--model", str(tiny_model), "--bulk", str(out)])
    assert again.exit_code == 0 and "31 already answered; 0 ok, 0 failed" in again.stdout, again.output
    assert merge_parts(out).n_answers == 31


@pytest.mark.parametrize("args, message", [
    (["--shard", "2/2", "--bulk", "{tmp}/b"], "ConfigError: --shard '2/2': I must be between 0 and N-1 (N=2)"),
    (["--shard", "half", "--bulk", "{tmp}/b"], "ConfigError: --shard 'half': expected I/N, e.g. 0/4"),
    (["--shard", "0/2"], "ConfigError: --shard needs --bulk DIR"),
    (["--bulk", "{tmp}/b", "--annotate", "{tmp}/a"], "ConfigError: --annotate is for a few photos"),
    (["--merge", "{tmp}"], "DataError: {tmp}: no part-*.jsonl files to merge"),
])
def test_bad_bulk_options_are_one_line(tiny_model, photos, tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    res = runner.invoke(app, ["predict", str(photos), "--model", str(tiny_model), *args])
    assert res.exit_code in (2, 3), res.output
    shown = res.output.strip().splitlines()
    assert len(shown) == 1 and shown[0].startswith(f"facexp: {message.format(tmp=tmp_path)}"), res.output


def test_launched_without_bulk_says_what_to_add(tiny_model, photos, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    res = runner.invoke(app, ["predict", str(photos), "--model", str(tiny_model)])
    assert res.exit_code == 2
    assert res.output.strip() == ("facexp: ConfigError: under a launcher (2 processes), facexp predict needs --bulk "
                                  "DIR: each process appends its part of the answers there")


def test_a_manifest_without_a_path_column_names_the_file(tmp_path):
    bad = tmp_path / "list.csv"
    bad.write_text("file,label\na.jpg,happy\n")
    res = runner.invoke(app, ["predict", str(bad), "--bulk", str(tmp_path / "b")])
    assert res.exit_code == 3
    assert res.output.strip().splitlines() == [
        f"facexp: DataError: {bad}: a manifest needs a 'path' column (found ['file', 'label']); "
        "pass a CSV with one image path per row under 'path'"]
