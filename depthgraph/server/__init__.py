"""The HTTP server: the Roboflow Workflows HTTP surface on FastAPI.

One module per concern: ``settings`` (limits and switches), ``errors`` (the JSON error shape),
``limits`` (body-size middleware), ``bodies`` (request models), ``cache`` (compiled workflows),
``inputs`` (decoding runtime inputs), ``app`` (the endpoints and ``run_server``).
"""

from depthgraph.server.app import create_app, refuse_sinks, run_server
from depthgraph.server.cache import WorkflowCache, definition_hash
from depthgraph.server.errors import ServerError, combined_error_body, error_body
from depthgraph.server.inputs import prepare_inputs
from depthgraph.server.settings import API_KEY_ENV, ServerSettings

__all__ = [
    "API_KEY_ENV", "ServerError", "ServerSettings", "WorkflowCache", "combined_error_body",
    "create_app", "definition_hash", "error_body", "prepare_inputs", "refuse_sinks", "run_server",
]
