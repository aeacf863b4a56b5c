"""Faces: detect every face, align (eyes level), crop with a margin; draw boxes and labels."""

from .align import align_face, eye_angle
from .api import crop_faces, detect_faces, detect_faces_batch
from .detectors import Face, get_detector, list_detectors, register_detector
from .draw import draw_faces
from .extract import ExtractReport, extract_faces
from .settings import FaceSettings

__all__ = ["ExtractReport", "Face", "FaceSettings", "align_face", "crop_faces", "detect_faces", "detect_faces_batch",
           "draw_faces", "extract_faces", "eye_angle", "get_detector", "list_detectors", "register_detector"]
