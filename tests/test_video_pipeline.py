"""The video pipeline on generated clips: counts, fps, files, odd sizes, bad sources, state."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from depthgraph.engine.state import VideoStateStore, end_video
from depthgraph.engine.values import VideoMetadata
from depthgraph.video import VideoSourceError, open_source, run_video, stream

from video_helpers import (pattern_frames, read_video, stabilised_workflow, truncate_last_frame,
                           workflow, write_clip)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_odd_size_clip_keeps_frames_fps_and_writes_readable_files(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "odd.mkv", pattern_frames(24, width=63, height=47), fps=25)
    wf = stabilised_workflow()
    summary = run_video(wf, clip, output_dir=tmp_path / "out", batch_size=4)
    assert summary.stats.frames_processed == 24 and summary.stats.frames_dropped == 0
    assert (summary.source.width, summary.source.height, summary.source.fps) == (63, 47, 25.0)

    lines = _jsonl(tmp_path / "out" / "results.jsonl")
    assert [line["frame_number"] for line in lines] == list(range(24))
    assert lines[1]["timestamp"] == pytest.approx(1 / 25)
    assert lines[0]["outputs"]["colour"] == {"type": "video_frame", "file": "colour.mp4", "frame_index": 0}
    assert lines[3]["outputs"]["normalized"]["shape"] == [47, 63]  # big arrays are summarised
    assert lines[0]["outputs"]["reset"] is True and lines[5]["outputs"]["reset"] is False

    frames, fps = read_video(tmp_path / "out" / "colour.mp4")
    assert len(frames) == 24 and fps == pytest.approx(25.0)
    assert frames[0].shape == (48, 64, 3)  # H.264 needs even sizes: padded by one pixel
    meta = json.loads((tmp_path / "out" / "video.json").read_text())
    assert meta["videos"]["colour.mp4"]["even_size_fix"] == "padded"
    assert meta["frames_processed"] == 24 and meta["interrupted"] is False


def test_mp4v_fallback_is_readable(tmp_path: Path) -> None:
    wf = workflow([], {"frame": "$inputs.image"})
    frames = pattern_frames(12, width=40, height=30)
    run_video(wf, frames, fps=12, output_dir=tmp_path, codec="mp4v")
    decoded, fps = read_video(tmp_path / "frame.mp4")
    assert len(decoded) == 12 and fps == pytest.approx(12.0)
    # lossy, but the picture is the one written
    assert np.abs(decoded[5].astype(int) - frames[5]).mean() < 12


def test_truncated_last_frame_gives_the_frames_that_decode(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "cut.avi", pattern_frames(20), fps=20, codec="mjpeg")
    truncate_last_frame(clip)
    summary = run_video(workflow([], {"frame": "$inputs.image"}), clip, output_dir=tmp_path / "out")
    assert summary.stats.frames_processed == 19  # the cut frame does not decode; the others do
    assert summary.stats.missing_frames == 20 - summary.stats.frames_processed
    assert len(_jsonl(tmp_path / "out" / "results.jsonl")) == summary.stats.frames_processed


def test_grayscale_clip_arrives_as_bgr(tmp_path: Path) -> None:
    gray = [f[:, :, 0].copy() for f in pattern_frames(10)]
    clip = write_clip(tmp_path / "gray.mkv", gray, fps=10, gray=True)
    seen = []
    for frame, result in stream(workflow([], {"frame": "$inputs.image"}), clip):
        seen.append(frame.numpy_image)
    assert len(seen) == 10 and seen[0].shape == (48, 64, 3)
    assert np.array_equal(seen[4][:, :, 0], gray[4]) and np.array_equal(seen[4][:, :, 2], gray[4])


def test_bad_sources_fail_at_once_with_the_source_named(tmp_path: Path) -> None:
    wf = workflow([], {"frame": "$inputs.image"})
    with pytest.raises(VideoSourceError, match="'.*nope.mp4' does not exist"):
        run_video(wf, tmp_path / "nope.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoSourceError, match="empty"):
        stream(wf, str(tmp_path / "empty.mp4"))
    import cv2

    writer = cv2.VideoWriter(str(tmp_path / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    writer.release()  # a container with no frame
    with pytest.raises(VideoSourceError, match="zero.mp4"):
        run_video(wf, tmp_path / "zero.mp4", output_dir=tmp_path / "out")
    (tmp_path / "text.mp4").write_text("not a video at all")
    with pytest.raises(VideoSourceError, match="text.mp4"):
        run_video(wf, tmp_path / "text.mp4")
    with pytest.raises(VideoSourceError, match="no frame"):
        run_video(wf, [], fps=10)
    with pytest.raises(VideoSourceError, match="--frames"):
        run_video(wf, pattern_frames(3), frames="5:2")


def test_frame_range_and_max_fps_keep_source_frame_numbers(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mkv", pattern_frames(30), fps=30)
    source = open_source(str(clip), frames="4:20", max_fps=15)
    assert source.info.stride == 2 and source.info.output_fps == 15 and source.info.total_frames == 8
    summary = run_video(workflow([], {"frame": "$inputs.image"}),
                        clip, frames="4:20", max_fps=15, output_dir=tmp_path / "out")
    lines = _jsonl(tmp_path / "out" / "results.jsonl")
    assert [line["frame_number"] for line in lines] == list(range(4, 20, 2))
    assert summary.stats.frames_processed == 8
    frames, fps = read_video(tmp_path / "out" / "frame.mp4")
    assert len(frames) == 8 and fps == pytest.approx(15.0)


def test_stream_yields_in_order_and_stopping_early_drops_state() -> None:
    wf = workflow([{"type": "depthgraph_test/frame_counter@v1", "name": "n", "image": "$inputs.image"}],
                  {"count": "$steps.n.count"})
    store = next(s for s in wf.compiled.steps if s.name == "n").block().states
    frames = stream(wf, pattern_frames(40), fps=20, batch_size=3)
    seen = []
    for frame, result in frames:
        seen.append((frame.frame_number, result["count"], frame.metadata.fps))
        if len(seen) == 10:
            assert store.videos() == [frames.video_id]
            break
    assert seen == [(i, i + 1, 20.0) for i in range(10)]
    assert store.videos() == []  # ended with the stream
    assert frames._thread is not None and not frames._thread.is_alive()


def test_two_videos_at_once_keep_their_own_state(tmp_path: Path) -> None:
    from video_helpers import inverse_depth_scene, jittered_frames

    wf = workflow([{"type": "depthgraph_test/frame_counter@v1", "name": "n", "image": "$inputs.image"},
                   *stabilised_workflow().definition["steps"]],
                  {"count": "$steps.n.count", "normalized": "$steps.stable.normalized_depth"})
    clips = [jittered_frames(inverse_depth_scene(variant=v), 30 + 7 * v, seed=v) for v in (0, 1)]
    alone = [[r["normalized"] for _, r in stream(wf, c, fps=30)] for c in clips]
    together: dict[int, list] = {0: [], 1: []}
    errors = []

    def run(v: int) -> None:
        try:
            run_video(wf, clips[v], fps=30, batch_size=2,
                         on_frame=lambda f, r: together[v].append((r["count"], r["normalized"])))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for v in (0, 1):
        assert [c for c, _ in together[v]] == list(range(1, len(clips[v]) + 1))
        for (_, got), expected in zip(together[v], alone[v]):
            np.testing.assert_array_equal(got, expected)
    for step in wf.compiled.steps:
        for store in vars(step.block()).values():
            if isinstance(store, VideoStateStore):
                assert store.videos() == []


def test_live_source_drops_frames_instead_of_falling_behind() -> None:
    wf = workflow([{"type": "depthgraph_test/sleep@v1", "name": "s", "image": "$inputs.image",
                    "seconds": 0.01}], {"frame": "$steps.s.image"})
    numbers = []
    summary = run_video(wf, iter(pattern_frames(200, width=16, height=12)), fps=100, drop_frames=True,
                           queue_size=2, on_frame=lambda f, r: numbers.append(f.frame_number))
    stats = summary.stats
    assert stats.frames_read == 200 and stats.frames_dropped > 0
    assert stats.frames_processed + stats.frames_dropped == 200
    assert numbers == sorted(numbers) and len(numbers) == stats.frames_processed


def test_point_clouds_every_n_frames_and_callback_errors(tmp_path: Path) -> None:
    from plyfile import PlyData

    wf = workflow([{"type": "depthgraph_test/tiny_cloud@v1", "name": "c", "image": "$inputs.image"}],
                  {"cloud": "$steps.c.point_cloud"})
    summary = run_video(wf, pattern_frames(12), fps=12, output_dir=tmp_path, ply_every=5)
    plys = sorted((tmp_path / "cloud").glob("*.ply"))
    assert [p.name for p in plys] == ["frame_000000.ply", "frame_000005.ply", "frame_000010.ply"]
    assert len(PlyData.read(str(plys[1]))["vertex"]) == 10
    assert set(plys) <= set(summary.files)
    lines = _jsonl(tmp_path / "results.jsonl")
    assert lines[5]["outputs"]["cloud"]["file"] == "cloud/frame_000005.ply"
    assert "file" not in lines[6]["outputs"]["cloud"] and lines[6]["outputs"]["cloud"]["num_points"] == 10
    assert lines[6]["outputs"]["cloud"]["unit"] == "relative"  # the test block's cloud has no unit
    assert PlyData.read(str(plys[1])).comments[-1] == "unit relative"

    def explode(frame, result):
        if frame.frame_number == 3:
            raise RuntimeError("callback failed on frame 3")

    with pytest.raises(RuntimeError, match="frame 3"):
        run_video(wf, pattern_frames(50), output_dir=tmp_path / "err", on_frame=explode)
    assert len(_jsonl(tmp_path / "err" / "results.jsonl")) >= 4  # closed, valid lines


def test_state_store_rules() -> None:
    now = [0.0]
    store = VideoStateStore(idle_seconds=10, clock=lambda: now[0])
    a = VideoMetadata("a", 0, 0.0, 30.0)
    assert store.get(None, dict) is None  # still images have no state
    first = store.get(a, dict)
    assert store.get(a, dict) is first and store.get("b", dict) is not first
    now[0] = 5.0
    store.get(a, dict)
    now[0] = 12.0
    assert store.videos() == ["a"]  # b idle for 12 s: dropped; a used 7 s ago
    assert end_video("a") >= 1 and store.videos() == []
    with pytest.raises(ValueError):
        VideoStateStore(idle_seconds=0)


def test_http_stream_on_loopback_is_a_live_source(tmp_path: Path) -> None:
    import functools
    import http.server
    import socket

    write_clip(tmp_path / "clip.mkv", pattern_frames(15), fps=15)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a client hanging up is fine
            pass

    server = Quiet(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.mkv"
        live = stream(workflow([], {"frame": "$inputs.image"}), url, drop_frames=False)
        assert live.info.kind == "stream" and live.info.is_live
        frames = [frame for frame, _ in live]
        assert len(frames) == 15 and not frames[0].metadata.comes_from_video_file
        stamps = [f.timestamp for f in frames]
        assert stamps == sorted(stamps) and stamps[0] == 0.0
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        with pytest.raises(VideoSourceError, match="cannot open stream"):
            stream(workflow([], {"frame": "$inputs.image"}), f"http://127.0.0.1:{closed}/none.mp4")
    finally:
        server.shutdown()
        server.server_close()


def test_source_names_hide_credentials_and_preview_needs_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    from depthgraph.video.pipeline import preview_available
    from depthgraph.video.sources import describe_source

    assert describe_source("rtsp://user:secret@127.0.0.1:8554/cam") == "rtsp://***@127.0.0.1:8554/cam"
    assert describe_source(0) == "camera 0" and describe_source("2") == "camera 2"
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    ok, why = preview_available()
    assert not ok and "display" in why
    with pytest.warns(UserWarning, match="preview disabled"):
        run_video(workflow([], {"frame": "$inputs.image"}), pattern_frames(2), preview=True)
