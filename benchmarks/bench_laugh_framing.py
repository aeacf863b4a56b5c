"""Does the detector's crop keep an open-mouthed laugh's jaw? (issue 14)

    .venv/bin/python benchmarks/bench_laugh_framing.py

Every FER2013 test face with a FER+ majority is placed in a larger picture (``as_photo``: enlarged
4x on a 384 px canvas, the face at 96-288 px) and found by the shipped model's face settings. The
square the pipeline crops (``crop_square``) is then compared with the face as placed, per FER+
majority class: its top and bottom edge in units of the placed face's side (0 = the face's top,
1 = its bottom, FER2013's own chin line), and the mouth landmarks' height inside the crop. A crop
that cut laughing jaws would show a bottom edge above the other classes' and mouths low in the
crop. Then, for the laughing faces, the network's answer on the face directly and on the crop: a
laugh lost to framing would have its crop's bottom edge higher than the laughs kept.

FER2013's crops are tight (brows to chin), so the check says whether the pipeline frames a
laughing face the way the training faces are framed; in a photo there is more below the chin,
which the detector's box does not depend on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from _machine import machine_line, write_result
from facexp.faces import FaceSettings
from facexp.faces.align import crop_square
from facexp.faces.detect import crop_face, detect_faces_batch
from facexp.imageio import open_image
from facexp.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from ferplus import as_photo, ferplus_targets  # noqa: E402

FER = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"
PLACED = (96, 288)  # the face's top and bottom (and left and right) in as_photo's canvas
BATCH = 64


def frame(photos: list, settings: FaceSettings) -> list[dict]:
    """Per picture: the crop square's edges in units of the placed face, the mouth's height in the crop."""
    out = []
    side0 = PLACED[1] - PLACED[0]
    for found in detect_faces_batch(photos, settings=settings):
        if not found:
            out.append({"found": False})
            continue
        face = found[0]
        cx, cy, side = crop_square(face, settings.margin)
        top = cy - side / 2
        mouth_y = (face.landmarks[3][1] + face.landmarks[4][1]) / 2
        out.append({"found": True, "top": (top - PLACED[0]) / side0, "bottom": (top + side - PLACED[0]) / side0,
                    "mouth_in_crop": (mouth_y - top) / side, "face": face})
    return out


def main() -> None:
    if not FER.is_dir():
        sys.exit(f"{FER} not found: this benchmark needs ../shared/data/fer2013")
    predictor = Predictor()
    settings = FaceSettings.from_dict(predictor.bundle.faces)
    table = ferplus_targets(FER)
    table = table[(table["split"] == "test") & (table["majority"] != "")].reset_index(drop=True)
    rows = []
    laughing = table["majority"].eq("laughing").to_numpy()
    for start in range(0, len(table), BATCH):
        part = table.iloc[start:start + BATCH]
        faces = [open_image(FER / p) for p in part["path"]]
        photos = [as_photo(f) for f in faces]
        for k, (photo, direct, framed) in enumerate(zip(photos, faces, frame(photos, settings))):
            i = start + k
            if laughing[i] and framed["found"]:
                probs = predictor.classify([direct, crop_face(photo, framed["face"], settings=settings)])
                framed["direct"], framed["crop"] = (predictor.classes[j] for j in probs.argmax(1))
                framed["p_direct"], framed["p_crop"] = probs[:, predictor.classes.index("laughing")]
            framed.pop("face", None)
            rows.append(framed)
        print(f"{start + len(part)}/{len(table)}", end="\r", file=sys.stderr, flush=True)
    df = pd.concat([table[["majority"]], pd.DataFrame(rows)], axis=1)
    found = df[df["found"]]
    stats = found.groupby("majority").agg(n=("top", "size"), top=("top", "median"), bottom=("bottom", "median"),
                                          cut=("bottom", lambda b: (b < 0.95).mean()),
                                          mouth=("mouth_in_crop", "median"))
    stats["found"] = df.groupby("majority")["found"].mean()
    lines = ["Crop framing per FER+ majority class: FER2013 test faces placed in larger pictures, found and framed "
             "by the shipped face settings. " + machine_line(), "",
             "| FER+ majority | faces | found | crop top (median) | crop bottom (median) | bottom above 0.95 "
             "(chin cut by over 5% of the face) | mouth height in the crop (median) |",
             "|---|---|---|---|---|---|---|"]
    for cls, r in stats.iterrows():
        lines.append(f"| {cls} | {int(r['n'])} | {r['found']:.1%} | {r['top']:.3f} | {r['bottom']:.3f} | "
                     f"{r['cut']:.1%} | {r['mouth']:.3f} |")
    laughs = found[found["majority"] == "laughing"]
    right_direct = laughs["direct"].eq("laughing")
    lost = laughs[right_direct & laughs["crop"].ne("laughing")]
    kept = laughs[right_direct & laughs["crop"].eq("laughing")]
    gained = laughs[~right_direct & laughs["crop"].eq("laughing")]
    lines += ["", f"Laughing faces found ({len(laughs)}): called laughing directly {right_direct.mean():.1%}, "
              f"through the crop {laughs['crop'].eq('laughing').mean():.1%}; {len(lost)} laughs lost through the crop "
              f"(as {', '.join(f'{c} {n}' for c, n in lost['crop'].value_counts().items())}), {len(gained)} gained. "
              f"Crop bottom (median): laughs lost {lost['bottom'].median():.3f}, laughs kept "
              f"{kept['bottom'].median():.3f}; chin cut by over 5%: lost {(lost['bottom'] < 0.95).mean():.1%}, "
              f"kept {(kept['bottom'] < 0.95).mean():.1%}. Mean laughing probability of the laughs lost: "
              f"{lost['p_direct'].mean():.2f} directly, {lost['p_crop'].mean():.2f} through the crop."]
    write_result("laugh_framing", lines)


if __name__ == "__main__":
    main()
