import numpy as np
import pytest
import torch
from PIL import Image

from facexp.bundle import ModelBundle, load_bundle, save_bundle
from facexp.ensemble import Ensemble, apply_temperature, average_weights, fit_temperature, networks
from facexp.predict import Predictor


@pytest.fixture(scope="module")
def pair(tiny_model) -> list[ModelBundle]:
    """The tiny model and a copy with perturbed weights: two members that disagree a little."""
    a, b = load_bundle(tiny_model), load_bundle(tiny_model)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in b.model.parameters():
            p.add_(0.2 * p.std() * torch.randn_like(p) if p.numel() > 1 else 0)
    return [a, b]


@pytest.fixture(scope="module")
def ensemble_dir(pair, tmp_path_factory):
    a, b = pair
    return save_bundle(tmp_path_factory.mktemp("ens") / "model", Ensemble([a.model, b.model]), dict(a.card), dtype="float16")


def test_softmax_of_the_output_is_the_members_mean_probability(pair):
    x = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        members = [m.model(x).softmax(1) for m in pair]
        combined = Ensemble([m.model for m in pair]).eval()(x).softmax(1)
    assert not torch.allclose(members[0], members[1], atol=1e-3)  # the members really differ
    assert torch.allclose(combined, (members[0] + members[1]) / 2, atol=1e-5)


def test_half_precision_ensemble_bundle_is_one_network_in_size_and_loads_safely(pair, ensemble_dir, tiny_model):
    card = load_bundle(ensemble_dir).card
    assert card["members"] == 2 and card["weights_dtype"] == "float16"
    single = (tiny_model / "model.safetensors").stat().st_size
    assert (ensemble_dir / "model.safetensors").stat().st_size < 1.1 * single
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        stored = load_bundle(ensemble_dir).model(x).softmax(1)
        exact = Ensemble([m.model for m in pair]).eval()(x).softmax(1)
    assert stored.dtype == torch.float32 and torch.allclose(stored, exact, atol=2e-3)


def test_int8_bundle_is_a_quarter_of_float32_and_answers_like_the_exact_model(pair, tmp_path):
    from facexp.errors import ModelError

    model = Ensemble([m.model for m in pair]).eval()
    exact_dir = save_bundle(tmp_path / "f32", model, dict(pair[0].card))
    int8_dir = save_bundle(tmp_path / "i8", model, dict(pair[0].card), dtype="int8")
    assert load_bundle(int8_dir).card["weights_dtype"] == "int8"
    assert (int8_dir / "model.safetensors").stat().st_size < 0.35 * (exact_dir / "model.safetensors").stat().st_size
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        stored, exact = load_bundle(int8_dir).model(x).softmax(1), model(x).softmax(1)
    assert stored.dtype == torch.float32 and torch.allclose(stored, exact, atol=2e-2)
    assert not torch.equal(stored, exact)  # really quantised, not a float copy
    with pytest.raises(ModelError, match="bfloat16"):
        save_bundle(tmp_path / "bad", model, dict(pair[0].card), dtype="bfloat16")


def test_predictor_onnx_and_gradcam_take_an_ensemble(ensemble_dir, shapes_dir, tmp_path):
    from facexp.evaluate import gradcam
    from facexp.train import export_onnx
    from facexp.train.export import max_abs_difference

    image = next((shapes_dir / "circle").glob("*.png"))
    probs = Predictor(ensemble_dir).predict(image).faces[0].probs
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    bundle = load_bundle(ensemble_dir)
    assert max_abs_difference(bundle.model, export_onnx(ensemble_dir, tmp_path / "e.onnx"), torch.randn(3, 3, 32, 32)) < 1e-4
    heat = gradcam(bundle, Image.open(image), 0)
    assert heat.shape == (32, 32) and heat.max() == pytest.approx(1.0)


def test_fine_tuning_from_an_ensemble_starts_from_its_first_member(ensemble_dir, pair):
    from facexp.train.fit import _init_from_bundle

    fresh = load_bundle(ensemble_dir)
    target = networks(fresh.model)[1]
    _init_from_bundle(target, fresh, fresh.classes)
    first = networks(fresh.model)[0].state_dict()
    assert all(torch.equal(v, first[k]) for k, v in target.state_dict().items())


def test_fit_temperature_recovers_how_underconfident_probabilities_are():
    rng = np.random.default_rng(0)
    logits = 2 * rng.normal(size=(5000, 6))
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(6, p=p) for p in true])
    underconfident = apply_temperature(true, 2.0)  # what a model twice too unsure would say
    assert fit_temperature(underconfident, labels) == pytest.approx(0.5, abs=0.05)
    assert fit_temperature(true, labels) == pytest.approx(1.0, abs=0.1)


def test_temperature_sharpens_the_ensemble_without_changing_answers_and_survives_saving(pair, tmp_path):
    x = torch.randn(8, 3, 32, 32)
    plain, sharp = (Ensemble([m.model for m in pair], t).eval() for t in (1.0, 0.5))
    with torch.no_grad():
        p_plain, p_sharp = plain(x).softmax(1), sharp(x).softmax(1)
    assert np.allclose(p_sharp.numpy(), apply_temperature(p_plain.numpy(), 0.5), atol=1e-5)
    assert torch.equal(p_plain.argmax(1), p_sharp.argmax(1)) and (p_sharp.max(1).values > p_plain.max(1).values).all()
    loaded = load_bundle(save_bundle(tmp_path / "t", sharp, dict(pair[0].card)))
    assert loaded.card["temperature"] == 0.5 and loaded.model.temperature == 0.5


def test_average_weights_is_the_elementwise_mean(pair):
    a, b = (m.model.state_dict() for m in pair)
    mean = average_weights([m.model for m in pair])
    key = next(k for k, v in a.items() if v.is_floating_point() and v.numel() > 1)
    assert np.allclose(mean[key].numpy(), ((a[key] + b[key]) / 2).numpy(), atol=1e-6)
