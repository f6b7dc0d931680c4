"""Shared helpers for the block tests (tests/test_blocks_*.py).

Fixtures defined here are imported by the test modules that use them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthgraph.engine.values import WorkflowImageData

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
WORKFLOWS = EXAMPLES / "workflows"
IMAGES = EXAMPLES / "images"


@pytest.fixture(scope="session")
def recipe_weights_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights root holding ``DA3-SMALL/model.safetensors`` with the deterministic recipe weights."""
    from depthgraph.models.depth_anything_v3.recipe import write_recipe_checkpoint

    root = tmp_path_factory.mktemp("weights")
    write_recipe_checkpoint("small", root / "DA3-SMALL")
    return root


@pytest.fixture()
def recipe_weights(recipe_weights_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``DEPTHGRAPH_WEIGHTS_DIR`` at the recipe weights for one test."""
    monkeypatch.setenv("DEPTHGRAPH_WEIGHTS_DIR", str(recipe_weights_root))
    monkeypatch.delenv("DEPTHGRAPH_DEVICE", raising=False)
    return recipe_weights_root


def load_example_image(name: str) -> np.ndarray:
    """An example photo as BGR uint8."""
    import cv2

    image = cv2.imread(str(IMAGES / f"{name}.jpg"), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read example image {name}"
    return image


def wrap(image: np.ndarray, parent_id: str = "img0") -> WorkflowImageData:
    """A BGR array as a workflow image with a known parent id."""
    return WorkflowImageData(numpy_image=image, parent_id=parent_id)


def gradient_image(height: int = 48, width: int = 64) -> np.ndarray:
    """A deterministic BGR picture (a colour gradient)."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack(
        [xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1), (xs + ys) % 256], axis=2
    ).astype(np.uint8)


def tilted_plane_depth(
    height: int, width: int, matrix: np.ndarray, normal: tuple[float, float, float], offset: float
) -> np.ndarray:
    """z-depth of the plane ``n . X = offset`` seen through pinhole ``matrix``, per pixel."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rx = (u - matrix[0, 2]) / matrix[0, 0]
    ry = (v - matrix[1, 2]) / matrix[1, 1]
    n = np.asarray(normal, dtype=np.float64)
    return (offset / (n[0] * rx + n[1] * ry + n[2])).astype(np.float32)


def detections(xyxy: list[list[float]], names: list[str] | None = None, mask: np.ndarray | None = None):
    """A ``supervision.Detections`` with the given boxes (class names default to 'object')."""
    import supervision as sv

    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    count = len(boxes)
    names = names if names is not None else ["object"] * count
    return sv.Detections(
        xyxy=boxes,
        mask=mask,
        confidence=np.linspace(0.9, 0.5, count).astype(np.float32) if count else np.zeros(0, np.float32),
        class_id=np.arange(count, dtype=int),
        data={"class_name": np.array(names, dtype=str)},
    )
