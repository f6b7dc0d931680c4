"""Test blocks and helpers for the engine tests (tiny, numpy only)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import AliasChoices, ConfigDict, Field

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.kinds import (
    DICTIONARY_KIND,
    FLOAT_KIND,
    IMAGE_KIND,
    INTEGER_KIND,
    OBJECT_DETECTION_PREDICTION_KIND,
    STRING_KIND,
)
from depthgraph.engine.registry import BlockRegistry, load_registry
from depthgraph.engine.values import WorkflowImageData
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

# --- manifests and blocks -------------------------------------------------------------------


class AddManifest(BlockManifest):
    model_config = ConfigDict(json_schema_extra={"name": "Add", "block_type": "transformation"})
    type: Literal["test/add@v1", "legacy/add@v1"]
    value: Union[Selector([FLOAT_KIND, INTEGER_KIND]), float] = Field(description="a number")
    amount: Union[Selector([FLOAT_KIND]), float] = 1.0

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="result", kind=[FLOAT_KIND])]


class AddBlock(WorkflowBlock):
    """Per element: result = value + amount."""

    manifest_class = AddManifest
    calls = 0

    def run(self, value: float, amount: float) -> dict[str, Any]:
        type(self).calls += 1
        return {"result": value + amount}


class ImageInfoManifest(BlockManifest):
    type: Literal["test/image_info@v1"]
    image: Selector([IMAGE_KIND])
    label: str = "img"

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="width", kind=[INTEGER_KIND]),
            OutputDefinition(name="mean", kind=[FLOAT_KIND]),
            OutputDefinition(name="label", kind=[STRING_KIND]),
        ]


class ImageInfoBlock(WorkflowBlock):
    manifest_class = ImageInfoManifest

    def run(self, image: WorkflowImageData, label: str) -> dict[str, Any]:
        return {"width": image.width, "mean": float(image.numpy_image.mean()), "label": label}


class BatchMeanManifest(BlockManifest):
    type: Literal["test/batch_mean@v1"]
    images: Selector([IMAGE_KIND]) = Field(validation_alias=AliasChoices("images", "image"))
    scale: Union[Selector([FLOAT_KIND]), float] = 1.0

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="mean", kind=[FLOAT_KIND]),
            OutputDefinition(name="batch_size", kind=[INTEGER_KIND]),
        ]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["images"]


class BatchMeanBlock(WorkflowBlock):
    """Batch-aware: one call for the whole batch; records the batch size it saw."""

    manifest_class = BatchMeanManifest
    calls: list[int] = []

    def run(self, images: list[WorkflowImageData], scale: float) -> list[dict[str, Any]]:
        type(self).calls.append(len(images))
        return [{"mean": float(im.numpy_image.mean()) * scale, "batch_size": len(images)} for im in images]


class FailManifest(BlockManifest):
    type: Literal["test/fail@v1"]
    value: Union[Selector(), float] = 0.0

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="out")]


class FailBlock(WorkflowBlock):
    manifest_class = FailManifest

    def run(self, value: Any) -> dict[str, Any]:
        raise ValueError(f"boom on {value}")


class BadReturnManifest(BlockManifest):
    type: Literal["test/bad_return@v1"]
    mode: Literal["not_dict", "missing", "short_list"] = "missing"
    image: Optional[Selector([IMAGE_KIND])] = None

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="a"), OutputDefinition(name="b")]

    @classmethod
    def batch_parameters(cls) -> list[str]:
        return ["image"]


class BadReturnBlock(WorkflowBlock):
    manifest_class = BadReturnManifest

    def run(self, mode: str, image: Any) -> Any:
        if mode == "not_dict":
            return [42 for _ in image]
        if mode == "missing":
            return [{"a": 1} for _ in image]
        return [{"a": 1, "b": 2}][: max(len(image) - 1, 0)]


class CountManifest(BlockManifest):
    type: Literal["test/count@v1"]
    predictions: Selector([OBJECT_DETECTION_PREDICTION_KIND])
    min_confidence: float = Field(default=0.0, alias="minConfidence")

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [
            OutputDefinition(name="count", kind=[INTEGER_KIND]),
            OutputDefinition(name="classes", kind=[DICTIONARY_KIND]),
        ]


class CountBlock(WorkflowBlock):
    manifest_class = CountManifest

    def run(self, predictions: Any, min_confidence: float) -> dict[str, Any]:
        keep = predictions.confidence >= min_confidence
        names = list(np.asarray(predictions.data.get("class_name", []))[keep])
        return {"count": int(keep.sum()), "classes": {n: names.count(n) for n in sorted(set(names))}}


class SumManifest(BlockManifest):
    """Takes a list of selectors (and literals): exercises nested selector templates."""

    type: Literal["test/sum@v1"]
    values: list[Union[Selector([FLOAT_KIND, INTEGER_KIND]), float]]

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="total", kind=[FLOAT_KIND])]


class SumBlock(WorkflowBlock):
    manifest_class = SumManifest

    def run(self, values: list[float]) -> dict[str, Any]:
        return {"total": float(sum(values))}


class ConstManifest(BlockManifest):
    """No inputs at all."""

    type: Literal["test/const@v1"]
    value: float = 1.0

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="value", kind=[FLOAT_KIND])]


class ConstBlock(WorkflowBlock):
    manifest_class = ConstManifest

    def run(self, value: float) -> dict[str, Any]:
        return {"value": value}


TEST_BLOCKS: list[type[WorkflowBlock]] = [
    AddBlock,
    ImageInfoBlock,
    BatchMeanBlock,
    FailBlock,
    BadReturnBlock,
    CountBlock,
    SumBlock,
    ConstBlock,
]


def make_registry() -> BlockRegistry:
    """A registry of the test blocks only (no built-ins, entry points or env plugins)."""
    return load_registry(builtins=False, entry_points=False, env=False, blocks=TEST_BLOCKS)


# --- definitions -----------------------------------------------------------------------------


def image_input(name: str = "image") -> dict[str, Any]:
    return {"type": "WorkflowImage", "name": name}


def param(name: str, default: Any = None, kind: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "WorkflowParameter", "name": name, **extra}
    if default is not None:
        out["default_value"] = default
    if kind is not None:
        out["kind"] = kind
    return out


def output(name: str, selector: str) -> dict[str, Any]:
    return {"type": "JsonField", "name": name, "selector": selector}


def definition(inputs: list[dict], steps: list[dict], outputs: list[dict]) -> dict[str, Any]:
    return {"version": "1.0", "inputs": inputs, "steps": steps, "outputs": outputs}


def add_chain(n: int, start: str = "$inputs.x") -> dict[str, Any]:
    """x -> add_0 -> add_1 -> ... -> add_{n-1}; output 'result' is the last step's result."""
    steps = []
    source = start
    for i in range(n):
        steps.append({"type": "test/add@v1", "name": f"add_{i}", "value": source, "amount": 1.0})
        source = f"$steps.add_{i}.result"
    return definition([param("x", 0.0, kind=["float"])], steps, [output("result", source)])


def image(value: int = 10, h: int = 4, w: int = 6) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)
