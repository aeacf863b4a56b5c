"""Faces: detect every face, align it (eyes level), crop it framed like FER2013; draw results.

    crop_faces(image, settings=...)   detect + align, the call the predictor and trainer use
    extract_faces(src, out, ...)      a folder of photos → aligned crops + faces_report.csv + faces.json
"""

from . import backends  # noqa: F401  (registers the detectors)
from .align import align_face, eye_angle
from .cache import DetectionCache
from .detect import crop_face, crop_faces, detect_faces, detect_faces_batch
from .draw import draw_faces
from .extract import CropsInfo, ExtractRecord, ExtractReport, extract_faces, looks_like_face_crop, read_crops_info
from .framing import FramingStats, framing_stats
from .registry import DetectorSpec, get_detector, list_detectors, register_detector
from .settings import FaceSettings
from .types import Face, clip_box

__all__ = ["CropsInfo", "DetectionCache", "DetectorSpec", "ExtractRecord", "ExtractReport", "Face", "FaceSettings", "align_face", "clip_box",
           "crop_face", "crop_faces", "detect_faces", "detect_faces_batch", "draw_faces", "eye_angle",
           "extract_faces", "FramingStats", "framing_stats", "get_detector", "list_detectors", "looks_like_face_crop",
           "read_crops_info", "register_detector"]
