"""The batch runner: a compiled workflow over many images, one results folder per image.

``depthgraph run`` / ``predict`` and the Ray engine share it; the terminal parts live in
:mod:`depthgraph.cli.batch`, Ray's in :mod:`depthgraph.scale.ray`.

- :mod:`~depthgraph.batch.jobs`: :class:`ImageJob` (one run: its images, its folder, and how its
  inputs are loaded), :class:`JobResult`, :class:`RunSummary`.
- :mod:`~depthgraph.batch.plan`: command-line images and parameters -> jobs.
- :mod:`~depthgraph.batch.runner`: :func:`run_jobs` (all jobs, in batches) and :func:`run_batch`
  (one batch); a bad image is recorded and skipped, a fatal error stops the run.
- :mod:`~depthgraph.batch.folders`: the output folder checked first; each job's folder written
  whole or not at all.
- :mod:`~depthgraph.batch.predict`: the workflow ``depthgraph predict`` runs.
"""

from __future__ import annotations

from depthgraph.batch.errors import FatalRunError, RunSetupError
from depthgraph.batch.folders import check_output_dir, write_job
from depthgraph.batch.jobs import ImageJob, JobResult, RunSummary
from depthgraph.batch.plan import parse_params, plan_jobs
from depthgraph.batch.predict import build_predict_definition
from depthgraph.batch.runner import job_failure, run_batch, run_jobs

__all__ = [
    "FatalRunError",
    "ImageJob",
    "JobResult",
    "RunSetupError",
    "RunSummary",
    "build_predict_definition",
    "check_output_dir",
    "job_failure",
    "parse_params",
    "plan_jobs",
    "run_batch",
    "run_jobs",
    "write_job",
]
