import io

import pytest
from PIL import Image
from skimage.data import astronaut


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, "JPEG", quality=90)
    return buf.getvalue()
