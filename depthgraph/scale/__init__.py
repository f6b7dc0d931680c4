"""Scale-out: the same compiled workflow over many images on Ray Data (optional extra ``ray``).

- :mod:`depthgraph.scale.inputs`: images named by local paths, folders, globs or URIs that
  pyarrow reads (``s3://``, ``gs://``...) -> a sorted plan with one stable output key each
  (its relative path), and which inputs already have results (resume).
- :mod:`depthgraph.scale.rows`: the Parquet table of per-input rows (input, outputs, error, time).
- :mod:`depthgraph.scale.ray`: :class:`~depthgraph.scale.ray.WorkflowActor` (compiles the
  workflow once per actor) and :func:`~depthgraph.scale.ray.run_on_ray`, the pipeline.
- ``depthgraph run ... --engine ray`` is the command module :mod:`depthgraph.cli.ray`.

Importing this package imports neither Ray nor torch.
"""

from __future__ import annotations

from depthgraph.scale.ray import RayRunSummary, ScaleRunError, run_on_ray

__all__ = ["RayRunSummary", "ScaleRunError", "run_on_ray"]
