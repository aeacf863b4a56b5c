import io
import json
import shutil

import pytest
from PIL import Image
from skimage.data import astronaut


@pytest.fixture(scope="session")
def face_model_dir(tiny_model, tmp_path_factory):
    """The tiny shapes model marked as a face model, so the server detects faces first."""
    target = tmp_path_factory.mktemp("serve_model") / "model"
    shutil.copytree(tiny_model, target)
    card = json.loads((target / "model.json").read_text())
    card["faces"] = {}
    (target / "model.json").write_text(json.dumps(card))
    return target


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, "JPEG", quality=90)
    return buf.getvalue()
