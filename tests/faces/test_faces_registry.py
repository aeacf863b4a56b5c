"""The detector registry and FaceSettings: every detector runs, bad names and keys are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facexp.errors import ConfigError
from facexp.faces import Face, FaceSettings, detect_faces, get_detector, list_detectors, register_detector
from facexp.faces import registry


@pytest.mark.parametrize("name", list_detectors())
def test_every_registered_detector_finds_the_astronaut(astro, name):
    spec = get_detector(name)
    faces = detect_faces(astro, settings=FaceSettings(detector=name))
    assert len(faces) >= 1 and all(isinstance(f, Face) and 0 <= f.score <= 1 for f in faces)
    assert all((f.landmarks is not None and len(f.landmarks) == 5) == spec.landmarks for f in faces)
    x, y, w, h = faces[0].box
    assert x <= 230 <= x + w and y <= 110 <= y + h  # the face's centre is inside the largest box


def test_the_default_detectors_are_registered():
    assert {"mtcnn", "whole"} <= set(list_detectors()) and FaceSettings().detector == "mtcnn"


def test_unknown_detector_lists_the_choices():
    with pytest.raises(ConfigError, match=r"'mtcn'.*Did you mean mtcnn\?.*Choices: mtcnn, whole"):
        FaceSettings(detector="mtcn")
    with pytest.raises(ConfigError, match="Choices"):
        get_detector("yolo")


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ConfigError, match="registered twice"):
        register_detector("whole", landmarks=False)(lambda images, settings: [[] for _ in images])


def test_a_new_detector_is_used_through_the_registry(astro, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    calls = []

    @register_detector("centre", landmarks=False)
    def centre(images: list[np.ndarray], settings: FaceSettings) -> list[list[Face]]:
        calls.append([img.shape for img in images])
        return [[Face((img.shape[1] / 4, img.shape[0] / 4, img.shape[1] / 2, img.shape[0] / 2), 0.95)] for img in images]

    big = astro.resize((1280, 1280))
    [face] = detect_faces(big, settings=FaceSettings(detector="centre"))
    assert calls == [[(640, 640, 3)]]  # downscaled for detection...
    assert face.box == (320.0, 320.0, 640.0, 640.0)  # ...and mapped back
    assert detect_faces(big, settings=FaceSettings(detector="centre", min_score=0.96)) == []


def test_settings_round_trip_and_reject_unknown_keys():
    settings = FaceSettings(margin=0.1, size=64, grayscale=True)
    assert FaceSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(ConfigError, match="unknown face settings.*'marginn'"):
        FaceSettings.from_dict({"marginn": 0.1})


def test_settings_recorded_by_an_older_bundle_still_load():
    card = json.loads((Path(__file__).parents[2] / "src/facexp/default_model/model.json").read_text())
    assert FaceSettings.from_dict(card["faces"]).detector == "mtcnn"


@pytest.mark.parametrize("bad", [{"margin": -0.5}, {"size": 4}, {"min_score": 1.5}, {"min_face": 8},
                                 {"max_side": 50}, {"stage_scores": (0.4, 0.5)}, {"stage_scores": (0.4, 0.5, 1.2)},
                                 {"retry_scores": (0.1, 0.2)}, {"retry_angles": (120.0,)}])
def test_out_of_range_settings_say_what_is_allowed(bad):
    with pytest.raises(ConfigError, match=f"the {next(iter(bad))} of face settings must"):
        FaceSettings(**bad)


def test_digest_changes_with_detection_settings_only():
    base = FaceSettings()
    from facexp.faces.settings import DETECTION_FIELDS

    assert base.digest(DETECTION_FIELDS) == FaceSettings(margin=0.2, size=96).digest(DETECTION_FIELDS)
    assert base.digest(DETECTION_FIELDS) != FaceSettings(min_face=30).digest(DETECTION_FIELDS)
    assert base.digest(DETECTION_FIELDS) != FaceSettings(stage_scores=(0.6, 0.7, 0.7)).digest(DETECTION_FIELDS)
    assert base.digest() != FaceSettings(margin=0.2).digest()
