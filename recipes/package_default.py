"""Copy a trained FER bundle into the package as the default model (safe format, at most 20 MB).

    .venv/bin/python recipes/package_default.py runs/fer8/model

FER2013 images are face crops, so the shipped card must carry face settings: prediction on a
photo then detects and crops faces the way FER2013 framed them. A bundle trained before the
recipe recorded them gets FaceSettings' defaults (the values the recipe now writes).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from facexp.bundle import WEIGHTS_FILE, load_bundle, read_card, write_card
from facexp.faces import FaceSettings

TARGET = Path(__file__).resolve().parents[1] / "src" / "facexp" / "default_model"
MAX_BYTES = 20_000_000  # the 20 MB, as the message below prints sizes


def main(source: Path) -> None:
    card = read_card(source)
    card["faces"] = card.get("faces") or FaceSettings().to_dict()
    size = (source / WEIGHTS_FILE).stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{source / WEIGHTS_FILE} is {size / 1e6:.1f} MB, over the 20 MB budget")
    TARGET.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / WEIGHTS_FILE, TARGET / WEIGHTS_FILE)
    write_card(TARGET, card)
    bundle = load_bundle(TARGET)  # must load without pickle
    print(f"default model: {TARGET} ({size / 1e6:.1f} MB, {bundle.arch}, classes {bundle.classes})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
