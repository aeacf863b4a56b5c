import io

import numpy as np
import pytest
from PIL import Image

from facexp.errors import ImageDecodeError, ImageTooLarge
from facexp.imageio import open_image


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "I;16", "RGBA", "RGB", "1"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    base = Image.fromarray((np.arange(40 * 30) % 251).reshape(30, 40).astype(np.uint8), "L")
    img = base.convert(mode) if mode != "I;16" else Image.fromarray((np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16))
    path = tmp_path / f"img_{mode.replace(';', '')}.{'tiff' if mode in ('CMYK', 'I;16') else 'png'}"
    img.save(path)
    out = open_image(path)
    assert out.mode == "RGB" and out.size == (40, 30)
    assert np.asarray(out).std() > 0  # pixels survived (16-bit rescaled, not clipped to white)


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert open_image(path).size == (20, 60)


def test_alpha_is_composited_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert np.asarray(open_image(path)).min() == 255


def test_truncated_and_non_images_name_the_file(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), "blue").save(buf, "JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(buf.getvalue()[:300])
    text = tmp_path / "notes.jpg"
    text.write_text("<html>not an image</html>")
    for path in (truncated, text, tmp_path / "missing.png"):
        with pytest.raises(ImageDecodeError, match=path.name):
            open_image(path)


def test_pixel_limit_guards_against_bombs(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (4000, 3000)).save(path)
    with pytest.raises(ImageTooLarge, match="over the limit"):
        open_image(path, max_pixels=1_000_000)
    assert open_image(path.read_bytes()).size == (4000, 3000)


def test_the_pixel_limit_counts_the_pixels_a_large_jpeg_is_decoded_at(tmp_path, monkeypatch):
    from facexp.imageio import open_image_reduced

    path = tmp_path / "phone.jpg"
    Image.new("RGB", (4000, 3000), (90, 120, 150)).save(path, quality=80)
    with pytest.raises(ImageTooLarge, match="phone.jpg: 4000x3000 is over the limit of 1,000,000 pixels"):
        open_image(path, max_pixels=1_000_000)  # decoded whole: refused before decoding
    image, full = open_image_reduced(path, max_pixels=1_000_000, max_side=900)  # at 1/4 scale: 0.75 megapixels
    assert image.size == (1000, 750) and full == (4000, 3000)
    with pytest.raises(ImageTooLarge, match=r"4000x3000 \(decoded at 500x375\) is over the limit of 100,000"):
        open_image_reduced(path, max_pixels=100_000, max_side=400)
    # PIL's own warning threshold (89 megapixels; 108-megapixel phone photos pass it) is not facexp's limit
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 7_000_000)  # 12 megapixels: a warning, under its error (2x)
    assert open_image_reduced(path, max_side=900)[0].size == (1000, 750)
