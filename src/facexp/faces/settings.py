"""Face settings, stored in model.json so training crops and prediction crops are made alike."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

from .._settings import JsonSettings
from ..errors import ConfigError

# Settings that change which faces are found; the rest only change how they are cropped.
DETECTION_FIELDS = ("detector", "min_score", "stage_scores", "retry_scores", "retry_angles", "min_face", "max_side")


@dataclass(frozen=True)
class FaceSettings(JsonSettings):
    """How faces are found and cropped.

    Attributes:
        detector: a registered detector name (``list_detectors()``): ``mtcnn`` or ``whole``.
        margin: space added on each side of the detector's box, as a fraction of the box's larger
            side, before the square crop (negative: inside the box). The default, -0.03, frames
            faces like FER2013, whose crops are tight (brows to chin), by measurement: FER2013
            crops and our crops of real faces were measured the same way, by running MTCNN again
            on each 48 px crop upscaled to 192 px (one method for both matters: on a tight crop
            MTCNN's box and landmarks spill past the image, so comparing photo faces measured in
            full context with FER2013 faces measured in their crops would suggest -0.07). Medians
            over 345 FER2013 training crops: eye distance 0.40 and eye-to-mouth distance 0.44 of
            the crop side, box height 1.14. On the faces of the shared photos and the astronaut
            (the 8 of 10 found again in their crops), margin -0.03 gives 0.40, 0.44 and 1.11; 0 gives 0.36, 0.38, 1.01; +0.1
            gives 0.28, 0.31, 0.81 (faces visibly smaller than in any FER2013 image). End to end,
            400 FER2013 test crops enlarged onto a canvas and put through detect → align → crop
            (358 faces found) get accuracy 0.53-0.55 from the shipped model at margins -0.1 to 0,
            0.51 at +0.05 and 0.43 at +0.1; classifying the 400 crops directly gives 0.56.
            ``framing_stats`` does the measurement; ``benchmarks/bench_faces.py --framing`` repeats it.
        size: side of the square crop in pixels. 48 is FER2013's own resolution, so a photo's face
            is as sharp as the training faces were before both are resized to the network input.
        min_score: faces with a lower detector score are dropped.
        stage_scores: MTCNN's thresholds for its three networks (P-, R-, O-net) to pass a candidate
            on; ``min_score`` then filters what O-net returns. Lower than facenet-pytorch's
            (0.6, 0.7, 0.7), so that blurred, small or gray faces reach O-net's judgement: on 600
            FER2013 test faces enlarged onto a canvas, (0.4, 0.5, 0.5) found 93.0% against 89.8%,
            and on the shared photos it found the same faces (the 4 clear faces of group.jpeg,
            none in non_face.jpg) with min_score 0.9. Lower still, (0.3, 0.4, 0.4), found 93.7%.
            With the second pass (``retry_scores``) single faces no longer need low thresholds
            here, but several faces in one picture do (the second pass runs only when none is
            found): on 80 pictures of 6 FER2013 faces each, (0.4, 0.5, 0.5) found 91.0% of
            them, (0.5, 0.6, 0.6) 90.2%, (0.6, 0.7, 0.7) 88.5% (though 35% faster on group.jpeg).
            P-net at 0.5 (the default for part of 2026-12-05) found the same single faces and the
            same 91.0% of those 80 pictures, and sent a fifth fewer candidates to R-net (detection
            7% faster on a 1-face photo, 15% on group.jpeg), but on more such pictures it found fewer
            faces: 89.8% against 90.8% of 1,800 (``benchmarks/bench_detect_recall.py``, now 300
            pictures), and 1,641 against 1,663 of another 1,800 (0.45: 1,654). So 0.4 is back.
        retry_scores: MTCNN's stage thresholds for a second pass over an image in which the first
            found no face of ``min_score`` (None: no second pass). Lower P- and R-net thresholds
            let more candidates reach O-net, whose threshold here is stricter than ``min_score``:
            on FER2013 test faces enlarged onto a canvas, (0.1, 0.2, 0.97) finds 93.7% of the
            hand-labelled laughing faces against 89.3% in one pass (smiling: 97.4 vs 95.4%), and
            no false face on 106 face-free pictures (scikit-image's, non_face.jpg, crops of
            them); (0.1, 0.2, 0.2) found 95.0% but 4 false faces (O-net scores 0.90-0.95).
        retry_angles: the second pass, if the upright image gives no face, turns it by each of
            these angles (degrees) in turn: MTCNN misses heads tilted much past 30 degrees, as
            laughing heads often are. With (-25, 25): laughing 96.8%, smiling 99.4% on the
            canvases above, and one face on the 106 pictures, a portrait on an ancient coin
            (with four angles, +-20 and +-40: 98.4% and 99.7%, but 7 false faces). A photo whose
            faces the first pass finds costs nothing more; one with no face about 4x one pass.
        min_face: smallest face searched for, in pixels of the image as detected (after the
            ``max_side`` downscale): 20 at 640 means faces smaller than ~3% of a large photo's
            longest side are skipped (they are too small to classify, and looking for them costs
            most of MTCNN's time).
        max_side: images with a longer side are downscaled for detection only; boxes and
            landmarks are mapped back and crops are cut from the full-resolution image.
        align: rotate each face so its eyes are level (needs landmarks; else a plain square crop).
            Match the training crops: FER2013's faces keep their head tilt, and through the photo
            pipeline the default model scores 55.4% unaligned vs 51.7% aligned on 700 FER2013 test
            crops (64.1% classified directly), so the FER recipe and the shipped card turn it off,
            and so does the default here: `facexp faces` then crops a user's photos the way the
            shipped model, which `facexp train` starts from for expression classes, saw its faces
            (on the journey benchmark, the shipped network kept as is scored 83.3% through aligned
            crops against 84.0% unaligned).
        grayscale: return gray (mode ``L``) crops, e.g. to write FER2013-like training images.
            Off by default: the model bundle's image settings already decide the colour mode the
            network sees, for training and prediction alike.
    """

    _what = "face settings"

    detector: str = "mtcnn"
    margin: float = -0.03
    size: int = 48
    min_score: float = 0.9
    stage_scores: tuple[float, float, float] = (0.4, 0.5, 0.5)
    retry_scores: tuple[float, float, float] | None = (0.1, 0.2, 0.97)
    retry_angles: tuple[float, ...] = (-25.0, 25.0)
    min_face: int = 20
    max_side: int = 640
    align: bool = False
    grayscale: bool = False

    def __post_init__(self) -> None:
        from .registry import get_detector

        get_detector(self.detector)  # unknown name: ConfigError listing the choices
        if not -0.3 <= self.margin <= 2:
            raise ConfigError(f"the margin of face settings must be in [-0.3, 2]; got {self.margin}")
        if self.size < 8:
            raise ConfigError(f"the size of face settings must be at least 8 pixels; got {self.size}")
        if not 0 <= self.min_score <= 1:
            raise ConfigError(f"the min_score of face settings must be in [0, 1]; got {self.min_score}")
        for name, scores, nullable in (("stage_scores", self.stage_scores, False), ("retry_scores", self.retry_scores, True)):
            if scores is None and nullable:
                continue
            if scores is None or len(scores) != 3 or not all(0 <= v <= 1 for v in scores):
                raise ConfigError(f"the {name} of face settings must be 3 numbers in [0, 1]{' or null' if nullable else ''}; "
                                  f"got {scores}")
        if not all(-90 <= a <= 90 for a in self.retry_angles):
            raise ConfigError(f"the retry_angles of face settings must be degrees in [-90, 90]; got {self.retry_angles}")
        if self.min_face < 12:
            raise ConfigError(f"the min_face of face settings must be at least 12 pixels (MTCNN's smallest "
                              f"window); got {self.min_face}")
        if self.max_side < 4 * self.min_face:
            raise ConfigError(f"the max_side of face settings must be at least 4 x min_face "
                              f"({4 * self.min_face}); got {self.max_side}")

    def digest(self, names: tuple[str, ...] | None = None) -> str:
        """Short hash of these settings (or of the ``names`` fields only) for cache keys."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if names is None or f.name in names}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
