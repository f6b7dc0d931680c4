"""The paths Roboflow users take (issue 20, items 1 and 3), in the Roboflow venv.

- Roboflow's own ``inference`` HTTP app (built by ``depthgraph.roboflow_server`` from the wheel's
  ``HttpInterface``, as Roboflow's docker images build it), started with uvicorn on 127.0.0.1
  with ``WORKFLOWS_PLUGINS=depthgraph.roboflow``: its describe lists every depthgraph block, and
  Roboflow's ``inference-sdk`` client runs a workflow mixing Roboflow's core blocks with ours.
- ``depthgraph serve`` answers ``inference-sdk`` in Roboflow's wire format: numpy arrays as
  nested lists, so code written against Roboflow's server (``np.asarray(result[...])``) works.
- ``InferencePipeline.init_with_workflow`` runs our blocks over the first frames of the example
  clip, with Roboflow's video metadata on every frame.

Servers and the pipeline run as subprocesses: Roboflow's server installs its process-wide
Workflows configuration before loading plugins, which a test process that already imported
Roboflow's engine cannot redo.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from roboflow_helpers import (
    MIXED_ROBOFLOW,
    REPO_ROOT,
    free_port,
    http_process,
    load_definition,
    offline_env,
    require_roboflow,
)

require_roboflow()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from blocks_helpers import load_example_image, recipe_weights_root  # noqa: E402,F401

pytest.importorskip("inference", reason="Roboflow's inference server is not installed "
                    "(bash .ci/roboflow-env installs inference[http])")
pytest.importorskip("inference_sdk", reason="inference-sdk is not installed")

pytestmark = pytest.mark.slow  # servers start (10-60 s) and run the DA3-small network

CLIP = REPO_ROOT / "examples" / "videos" / "pan_zoom.mp4"
DEPTH_WORKFLOW = REPO_ROOT / "examples" / "workflows" / "depth_colormap.json"


def _client(base: str):
    from inference_sdk import InferenceConfiguration, InferenceHTTPClient

    client = InferenceHTTPClient(api_url=base, api_key=None)
    return client.configure(InferenceConfiguration(api_key_transport="header"))


@pytest.fixture(scope="module")
def roboflow_server(recipe_weights_root, tmp_path_factory):  # noqa: F811
    """Roboflow's inference server (its app, its routes, its core blocks) with our plugin."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "depthgraph.roboflow_server:app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with http_process(command, "/info", offline_env(recipe_weights_root),
                      tmp_path_factory.mktemp("inference-server"), port) as base:
        yield base


def test_roboflows_server_describes_every_depthgraph_block(roboflow_server) -> None:
    import httpx

    import depthgraph.roboflow as plugin

    answer = httpx.post(f"{roboflow_server}/workflows/blocks/describe", json={}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    described = {b["manifest_type_identifier"] for b in answer.json()["blocks"]}
    ours = {i for i in described if i.startswith("depthgraph/")}
    expected = {block.get_manifest().model_json_schema()["properties"]["type"].get("const")
                for block in plugin.load_blocks()}
    assert ours == expected and len(ours) == len(plugin.load_blocks()) >= 11
    assert "roboflow_core/image_blur@v1" in described  # Roboflow's own blocks are there too


def test_inference_sdk_runs_a_mixed_workflow_on_roboflows_server(roboflow_server) -> None:
    photo = load_example_image("astronaut")
    [result] = _client(roboflow_server).run_workflow(
        specification=load_definition(MIXED_ROBOFLOW), images={"image": photo})
    # Roboflow counted (property_definition) the faces depthgraph found and measured
    assert result["face_count"] == len(result["depths"]) >= 1
    assert all(isinstance(d, float) and d > 0 for d in result["depths"])
    # a depthgraph depth map: an object that says its unit, values as nested lists
    assert result["depth"]["type"] == "depth_map" and result["depth"]["unit"] == "relative"
    depth = np.asarray(result["depth"]["values"], dtype=np.float32)
    assert depth.ndim == 2 and np.isfinite(depth).all()
    assert np.asarray(result["intrinsics"]).shape == (3, 3)
    assert result["annotated"]  # Roboflow's boxes on depthgraph's colour map, base64 JPEG


def test_inference_sdk_reads_depthgraph_serve_as_it_reads_roboflow(recipe_weights_root,  # noqa: F811
                                                                    tmp_path) -> None:
    """Item 1: the default answer is Roboflow's shape; compact arrays only when asked."""
    port = free_port()
    command = [sys.executable, "-m", "depthgraph.cli", "serve", "--port", str(port),
               "--log-level", "warning"]
    photo = load_example_image("coffee")
    with http_process(command, "/healthz", offline_env(recipe_weights_root), tmp_path,
                      port) as base:
        [result] = _client(base).run_workflow(specification=load_definition(DEPTH_WORKFLOW),
                                              images={"image": photo})
        # what code written for Roboflow's server does with the answer
        normalized = np.asarray(result["normalized_depth"], dtype=np.float32)
        assert normalized.shape == photo.shape[:2]
        assert 0.0 <= normalized.min() and normalized.max() <= 1.0
        depth = result["depth"]  # depthgraph's depth map says its unit; its values are lists
        assert depth["type"] == "depth_map" and depth["unit"] == "relative"
        assert np.asarray(depth["values"], dtype=np.float32).shape == photo.shape[:2]
        # compact arrays stay available, per request
        import base64

        import cv2
        import httpx

        jpeg = base64.b64encode(cv2.imencode(".jpg", photo)[1].tobytes()).decode("ascii")
        compact = httpx.post(f"{base}/workflows/run", timeout=300, json={
            "specification": load_definition(DEPTH_WORKFLOW), "array_format": "base64",
            "inputs": {"image": {"type": "base64", "value": jpeg}}})
        assert compact.status_code == 200, compact.text[:500]
        packed = compact.json()["outputs"][0]["normalized_depth"]
        assert packed["type"] == "numpy_array" and packed["shape"] == list(photo.shape[:2])


PIPELINE_SCRIPT = textwrap.dedent("""
    import json, sys
    import cv2
    from inference import InferencePipeline

    clip, first, spec_path, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    # the first frames of the example clip as a short file of their own
    reader = cv2.VideoCapture(clip)
    fps = reader.get(cv2.CAP_PROP_FPS)
    short = out_path + ".mp4"
    writer = None
    for _ in range(first):
        ok, frame = reader.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(short, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                     (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    writer.release()
    seen = []

    def on_prediction(result, frame):
        depth = getattr(result["depth"], "values", result["depth"])  # a DepthMap in-process
        seen.append({"frame_id": frame.frame_id, "shape": list(depth.shape),
                     "frame_shape": list(frame.image.shape[:2]),
                     "fps": result["image"].video_metadata.fps,
                     "video_id": result["image"].video_metadata.video_identifier})

    pipeline = InferencePipeline.init_with_workflow(
        video_reference=short, workflow_specification=json.load(open(spec_path)),
        on_prediction=on_prediction)
    pipeline.start()
    pipeline.join()
    json.dump(seen, open(out_path, "w"))
""")


def test_inference_pipeline_runs_our_blocks_over_video_frames(recipe_weights_root,  # noqa: F811
                                                               tmp_path) -> None:
    frames = 4
    spec = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {"type": "roboflow_core/image_blur@v1", "name": "blur", "image": "$inputs.image",
             "blur_type": "gaussian", "kernel_size": 3},
            {"type": "depthgraph/depth_estimation@v1", "name": "depth",
             "images": "$steps.blur.image"},
        ],
        "outputs": [
            {"type": "JsonField", "name": "depth", "selector": "$steps.depth.depth"},
            {"type": "JsonField", "name": "image", "selector": "$steps.depth.image"},
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "pipeline.py").write_text(PIPELINE_SCRIPT)
    out = tmp_path / "seen.json"
    done = subprocess.run(
        [sys.executable, str(tmp_path / "pipeline.py"), str(CLIP), str(frames),
         str(tmp_path / "spec.json"), str(out)],
        env=offline_env(recipe_weights_root), cwd=tmp_path, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    seen = json.loads(out.read_text())
    assert [s["frame_id"] for s in seen] == list(range(1, frames + 1))
    for item in seen:
        assert item["shape"] == item["frame_shape"] == [240, 320]
        assert item["fps"] == pytest.approx(15.0)  # Roboflow's video metadata came through
        assert item["video_id"]
