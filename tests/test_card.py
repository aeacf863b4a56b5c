"""Issue 17: a model card and its weights are input. Every hostile bundle is one line and exit code 4
in predict, evaluate, export and serve; probabilities that are not finite are an error, never output."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from facexp.bundle import load_bundle, read_card
from facexp.card import validate_card
from facexp.cli import app
from facexp.errors import ModelError

runner = CliRunner()


def _copy(model, tmp_path, name="model"):
    target = tmp_path / name
    shutil.copytree(model, target)
    for extra in target.glob("*.pkl"):
        extra.unlink()
    return target


def _edit_card(model, **changes):
    card = json.loads((model / "model.json").read_text())
    for dotted, value in changes.items():
        keys = dotted.split("__")
        at = card
        for k in keys[:-1]:
            at = at[k]
        if value is _DELETE:
            del at[keys[-1]]
        else:
            at[keys[-1]] = value
    (model / "model.json").write_text(json.dumps(card))


_DELETE = object()


@pytest.mark.parametrize("changes, field", [
    ({"image__size": 100000}, "image.size"),
    ({"image__size": 4}, "image.size"),
    ({"image__size": "64"}, "image.size"),
    ({"image__mean": [0.5, 0.5]}, "image.mean"),
    ({"image__std": [0.2, 0.0, 0.2]}, "image.std"),
    ({"image__gamma": 2}, "image.gamma"),
    ({"temperature": 0}, "temperature"),
    ({"temperature": -1.5}, "temperature"),
    ({"members": 2.5}, "members"),
    ({"members": 0}, "members"),
    ({"classes": ["circle", "circle", "triangle"]}, "classes"),
    ({"classes": ["circle", "", "triangle"]}, "classes"),
    ({"classes": "circle,square,triangle"}, "classes"),
    ({"arch": "resnet9000"}, "arch"),
    ({"faces": {"size": 100000}}, "faces.size"),
    ({"faces": {"min_score": 3}}, "faces.min_score"),
    ({"faces": {"detector": "haar"}}, "faces"),
    ({"classes": _DELETE}, "classes"),
    ({"image": _DELETE}, "image"),
])
def test_card_fields_are_validated_with_the_field_named(tiny_model, tmp_path, changes, field):
    model = _copy(tiny_model, tmp_path)
    _edit_card(model, **changes)
    with pytest.raises(ModelError) as info:
        load_bundle(model, lazy=True)
    message = str(info.value)
    assert str(model / "model.json") in message and f"'{field}'" in message and "\n" not in message


def test_a_valid_card_passes_and_a_list_does_not(tiny_model):
    card = read_card(tiny_model)
    assert validate_card(card, "x") is card
    with pytest.raises(ModelError, match="JSON object.*JSON list"):
        validate_card([card], "model.json")


@pytest.mark.parametrize("damage, message", [
    (lambda b: b""[:0], "empty"),
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:40], "truncated"),
    (lambda b: b"\x00" * 64 + b"garbage" * 100, "not a safetensors file"),
    (lambda b: b"PK\x03\x04" + b"x" * 500, "not a safetensors file"),
    (lambda b: b + b"\x00" * 16, "padded"),
])
def test_damaged_weights_are_refused_before_loading(tiny_model, tmp_path, damage, message):
    model = _copy(tiny_model, tmp_path)
    weights = model / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ModelError, match=message) as info:
        load_bundle(model, lazy=True)
    assert str(weights) in str(info.value)


def test_weights_must_match_the_cards_classes_and_members(tiny_model, tmp_path):
    model = _copy(tiny_model, tmp_path)
    _edit_card(model, classes=["a", "b"])
    with pytest.raises(ModelError, match="answer 3 classes.*'classes' lists 2"):
        load_bundle(model, lazy=True)
    _edit_card(model, classes=["circle", "square", "triangle"], members=2)
    with pytest.raises(ModelError, match="holds 1 network.*'members' says 2"):
        load_bundle(model, lazy=True)


def _hostile_models(tiny_model, tmp_path):
    """(name, model dir, text the one-line error must contain)."""
    out = []
    big = _copy(tiny_model, tmp_path, "big")
    _edit_card(big, image__size=100000)
    out.append(("size 100000", big, "'image.size'"))
    missing = _copy(tiny_model, tmp_path, "missing")
    _edit_card(missing, classes=_DELETE)
    out.append(("missing field", missing, "'classes' is missing"))
    listed = _copy(tiny_model, tmp_path, "listed")
    (listed / "model.json").write_text(json.dumps([read_card(tiny_model)]))
    out.append(("list card", listed, "JSON list"))
    empty = _copy(tiny_model, tmp_path, "empty")
    (empty / "model.safetensors").write_bytes(b"")
    out.append(("empty weights", empty, "model.safetensors: empty"))
    cut = _copy(tiny_model, tmp_path, "cut")
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) - 1000])
    out.append(("truncated weights", cut, "truncated"))
    garbage = _copy(tiny_model, tmp_path, "garbage")
    (garbage / "model.safetensors").write_bytes(b"\xff" * 4096)
    out.append(("garbage weights", garbage, "not a safetensors file"))
    return out


def test_hostile_bundles_are_one_line_in_every_verb(tiny_model, shapes_dir, tmp_path):
    image = str(next((shapes_dir / "circle").glob("*.png")))
    for name, model, text in _hostile_models(tiny_model, tmp_path):
        for args in (["predict", "--model", str(model), image, "--json"], ["evaluate", str(model), str(shapes_dir)],
                     ["export", str(model)], ["serve", str(model), "--port", "1"]):  # serve fails before binding
            res = runner.invoke(app, args)
            where = f"{name}: {args[0]}"
            assert res.exit_code == 4, (where, res.output)
            assert "Traceback" not in res.output and text in res.output, (where, res.output)
            assert str(model) in res.output and len(res.output.strip().splitlines()) == 1, (where, res.output)
            assert res.stdout == "" or "NaN" not in res.stdout


def test_nan_weights_give_an_error_not_nan(tiny_model, shapes_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    model = _copy(tiny_model, tmp_path)
    tensors = load_file(str(model / "model.safetensors"))
    key = next(k for k in tensors if k.endswith("1.8.weight"))
    tensors[key] = tensors[key] * float("nan")
    save_file(tensors, str(model / "model.safetensors"))
    image = str(next((shapes_dir / "circle").glob("*.png")))
    runs = [["predict", "--model", str(model), image, "--json", "--engine", engine] for engine in ("torch", "onnx")]
    for args in runs + [["export", str(model)]]:  # export writes no NaN model
        res = runner.invoke(app, args)
        assert res.exit_code == 4, res.output
        assert "non-finite" in res.output and str(model) in res.output and "NaN" not in res.stdout
        for line in res.stdout.splitlines():
            json.loads(line)  # whatever is printed is valid JSON
    assert not (model / "model.onnx").exists()


def test_card_knows_the_architectures_nets_builds_without_fastai():
    """card.py names them so a card is read without torch; the two lists must not drift apart."""
    from facexp.card import INFERENCE_ARCH_NAMES
    from facexp.nets import INFERENCE_ARCHS

    assert set(INFERENCE_ARCH_NAMES) == set(INFERENCE_ARCHS)
