import numpy as np
import pytest
import torch
from PIL import Image

from facexp import backbones
from facexp.backbones import build_model, get_backbone, list_backbones
from facexp.errors import ConfigError, WeightsNotFound


@pytest.mark.parametrize("name", list_backbones())
def test_every_registered_backbone_builds_and_runs(name):
    model = build_model(name, 5, pretrained=False).eval()
    with torch.inference_mode():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)


def test_packaged_efficientnet_lite0_weights_recognise_a_cat():
    """ImageNet check of the offline weights: skimage's chelsea is a cat (classes 281-285)."""
    from skimage.data import chelsea

    spec = get_backbone("efficientnet_lite0")
    model = spec.builder(pretrained=True).eval()
    img = Image.fromarray(chelsea()).resize((224, 224), Image.BICUBIC)
    x = torch.tensor(np.asarray(img) / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        probs = model(x).softmax(1)[0]
    assert int(probs.argmax()) in range(281, 286)
    assert float(probs[281:286].sum()) > 0.8


def test_unknown_arch_suggests_close_names():
    with pytest.raises(ConfigError, match="Did you mean: resnet34"):
        get_backbone("resnet343")


def test_arch_without_local_weights_fails_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(backbones, "_network_reachable", lambda url: False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsNotFound, match="--no-pretrained"):
        build_model("resnet34", 4, pretrained=True)
    assert build_model("resnet34", 4, pretrained=False) is not None  # from scratch needs no download
