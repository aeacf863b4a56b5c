"""`make demo`: the main job on the shipped default model — photos in, faces and expressions out.

Uses scikit-image's astronaut (a public-domain photo that ships with the package) and, when
../shared/data/photos exists, the stock photos there. Annotated copies go to runs/demo/annotated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image
from skimage.data import astronaut

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "demo"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    photo = OUT / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo, quality=95)
    inputs = [str(photo)]
    shared = ROOT.parent / "shared" / "data" / "photos"
    if shared.is_dir():
        inputs += sorted(str(p) for p in shared.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    facexp = Path(sys.executable).with_name("facexp")
    cmd = [str(facexp), "predict", *inputs, "--annotate", str(OUT / "annotated")]
    print("$", " ".join(cmd), flush=True)
    code = subprocess.call(cmd)
    if code == 0:
        print(f"\nannotated photos: {OUT / 'annotated'}")
        print("try also: facexp predict photo.jpg --classes happy,sad,surprise,laughing   |   facexp serve")
    return code


if __name__ == "__main__":
    sys.exit(main())
