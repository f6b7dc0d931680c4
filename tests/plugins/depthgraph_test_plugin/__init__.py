"""A tiny depthgraph plugin used by the engine tests.

It is loaded either through the entry-point group ``depthgraph.plugins`` (the tests put a
``*.dist-info`` directory declaring it on ``sys.path``) or through ``DEPTHGRAPH_PLUGINS``.
"""

from __future__ import annotations

from typing import Any, Literal

from depthgraph.engine.block import WorkflowBlock
from depthgraph.engine.kinds import FLOAT_KIND, Kind
from depthgraph.engine.manifest import BlockManifest, OutputDefinition, Selector

GREETING_KIND = Kind("greeting", "A friendly string made by the test plugin.")


class EchoManifest(BlockManifest):
    type: Literal["test_plugin/echo@v1", "test_plugin/echo_alias@v1"]
    value: Selector([FLOAT_KIND])

    @classmethod
    def describe_outputs(cls) -> list[OutputDefinition]:
        return [OutputDefinition(name="greeting", kind=[GREETING_KIND])]


class EchoBlock(WorkflowBlock):
    manifest_class = EchoManifest

    def run(self, value: float) -> dict[str, Any]:
        return {"greeting": f"hello {value}"}


def load_blocks() -> list[type[WorkflowBlock]]:
    return [EchoBlock]


def load_kinds() -> list[Kind]:
    return [GREETING_KIND]
