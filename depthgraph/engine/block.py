"""Block behaviour: the code that runs for a step, bound to its manifest.

A block module must not import torch at module level: the registry imports block modules to
describe and compile workflows, and those paths never pay for torch.
"""

from __future__ import annotations

from typing import Any, ClassVar

from depthgraph.engine.manifest import BlockManifest


class WorkflowBlock:
    """Base class of all blocks.

    ``run`` receives every manifest input field (all fields but ``type`` and ``name``) as keyword
    arguments, selectors already resolved to values.

    - Per-element blocks (``manifest_class.batch_parameters()`` is empty) are called once per batch
      element and return one dict ``{output_name: value}``.
    - Batch-aware blocks receive a list (one value per element) for each field named in
      ``batch_parameters()``, scalars for the rest, and return a list with one dict per element.

    Blocks must not mutate their inputs: another step may read the same value. Images arrive
    read-only; copy before drawing.

    One instance is created per step when a workflow compiles and may run many times.
    """

    manifest_class: ClassVar[type[BlockManifest]]

    def __init__(self, manifest: BlockManifest | None = None) -> None:
        self.manifest = manifest

    @classmethod
    def identifier(cls) -> str:
        return cls.manifest_class.identifier()

    def run(self, **kwargs: Any) -> dict[str, Any] | list[dict[str, Any]]:
        raise NotImplementedError
