"""``depthgraph/opencv_cascade_detection@v1``: classic cascade detection with no download.

Uses ``cv2.CascadeClassifier`` with the Haar files that opencv-python 4 bundles under
``cv2.data.haarcascades`` (OpenCV 5 dropped both, hence the ``<5`` pin in pyproject.toml).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

import numpy as np

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.errors import StepInputError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.manifests.cascade_detection import CascadeDetectionManifest

#: cascade choice -> (Haar file bundled with opencv-python 4, class name given to detections)
HAAR_FILES: dict[str, tuple[str, str]] = {
    "frontal_face": ("haarcascade_frontalface_default.xml", "face"),
    "profile_face": ("haarcascade_profileface.xml", "face"),
    "full_body": ("haarcascade_fullbody.xml", "person"),
    "upper_body": ("haarcascade_upperbody.xml", "upper_body"),
    "eyes": ("haarcascade_eye.xml", "eye"),
}

#: A detector: (BGR image, scale_factor, min_neighbors, min_size, max_size) -> boxes (N, 4) xywh.
Detector = Callable[[np.ndarray, float, int, int, int], np.ndarray]

_DETECTORS: dict[str, Detector] = {}
_LOCK = threading.Lock()


def _opencv_detector(cascade: str) -> Detector | None:
    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or not folder:
        return None
    path = os.path.join(folder, HAAR_FILES[cascade][0])
    if not os.path.isfile(path):
        return None
    classifier = cv2.CascadeClassifier(path)
    if classifier.empty():
        return None
    lock = threading.Lock()  # one classifier object is shared by every step using this cascade

    def detect(
        bgr: np.ndarray, scale: float, neighbours: int, min_side: int, max_side: int
    ) -> np.ndarray:
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        with lock:
            boxes = classifier.detectMultiScale(
                gray,
                scaleFactor=scale,
                minNeighbors=neighbours,
                minSize=(min_side, min_side),
                maxSize=(max_side, max_side),
            )
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)

    return detect


def get_detector(cascade: str) -> Detector:
    """The detector for ``cascade`` (cached), or a ValueError saying why none is available."""
    if cascade not in HAAR_FILES:
        raise StepInputError(
            f"property 'cascade': expected one of {sorted(HAAR_FILES)}, got {cascade!r}"
        )
    with _LOCK:
        detector = _DETECTORS.get(cascade)
        if detector is None:
            detector = _opencv_detector(cascade)
            if detector is None:
                import cv2

                raise StepInputError(
                    f"property 'cascade': {cascade!r} is not available with "
                    f"OpenCV {cv2.__version__}: it needs cv2.CascadeClassifier and the Haar files "
                    "bundled with opencv-python 4 (OpenCV 5 dropped both; depthgraph requires "
                    "opencv-python-headless<5)"
                )
            _DETECTORS[cascade] = detector
        return detector


def forget_detector(cascade: str, detector: Detector) -> None:
    """Drop a cached detector (after it failed), so that the next call builds a fresh one."""
    with _LOCK:
        if _DETECTORS.get(cascade) is detector:
            del _DETECTORS[cascade]


class CascadeDetectionBlock(WorkflowBlock):
    """Finds objects of one cascade class; outputs ``supervision.Detections`` with class names."""

    manifest_class = CascadeDetectionManifest

    def run(  # type: ignore[override]
        self,
        image: Any,
        cascade: str = "frontal_face",
        scale_factor: float = 1.1,
        min_neighbors: int = 4,
        min_size: int = 30,
        max_size: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        import supervision as sv

        if not isinstance(image, WorkflowImageData):
            raise StepInputError(f"property 'image': expected an image, got {type(image).__name__}")
        detector = get_detector(cascade)
        largest = max_size or max(image.height, image.width)
        try:
            boxes = detector(
                image.numpy_image, float(scale_factor), int(min_neighbors), int(min_size),
                int(largest),
            )
        except Exception:
            forget_detector(cascade, detector)  # OpenCV may leave the classifier unusable
            raise
        corners = [boxes[:, :2], boxes[:, :2] + boxes[:, 2:]]
        xyxy = np.concatenate(corners, axis=1).astype(np.float32)
        count = len(xyxy)
        detections = sv.Detections(
            xyxy=xyxy.reshape(-1, 4),
            confidence=np.ones(count, dtype=np.float32),
            class_id=np.zeros(count, dtype=int),
            data={
                "class_name": np.array([HAAR_FILES[cascade][1]] * count, dtype=str),
                # Roboflow's convention: (height, width) of the image, per detection
                "image_dimensions": np.tile([image.height, image.width], (count, 1)),
            },
        )
        # kept in metadata too, so that an empty result still knows its image's size
        detections.metadata["image_dimensions"] = (image.height, image.width)
        return {"predictions": detections}
