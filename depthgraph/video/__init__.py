"""Workflows over video: sources (files, cameras, streams), sinks (MP4, JSON Lines, PLY) and the
threaded pipeline that runs a compiled workflow frame by frame.

Most users call :func:`run_video` or :func:`stream` with a compiled
:class:`~depthgraph.engine.workflow.Workflow`; see ``docs/video.md``. The engine knows nothing of
video: these functions take a workflow.
"""

from __future__ import annotations

from depthgraph.video.pipeline import (VideoFrame, VideoRunSummary, VideoStats, VideoStream, run_video,
                                       stream)
from depthgraph.video.sinks import JsonlWriter, Mp4Writer, VideoOutputWriter, VideoSinkError, h264_available
from depthgraph.video.sources import SourceInfo, VideoSourceError, open_source

__all__ = ["JsonlWriter", "Mp4Writer", "SourceInfo", "VideoFrame", "VideoOutputWriter", "VideoRunSummary",
           "VideoSinkError", "VideoSourceError", "VideoStats", "VideoStream", "h264_available", "open_source",
           "run_video", "stream"]
