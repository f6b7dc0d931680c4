"""The HTTP server: the Roboflow Workflows HTTP surface on FastAPI.

One module per concern: ``settings`` (limits and switches), ``errors`` (the JSON error shape),
``limits`` (body-size middleware), ``gate`` (Host, HEAD, the key before the body, anti-framing),
``auth`` (the key), ``handlers`` (errors as answers), ``bodies`` (request models and parsing),
``cache`` (compiled workflows), ``inputs`` (image inputs checked, handed on undecoded),
``routes`` (the endpoints), ``model_status`` (what /info says of the model), ``app`` (putting
them together, ``run_server``).
"""

from depthgraph.server.app import create_app, refuse_sinks, run_server
from depthgraph.server.cache import WorkflowCache, definition_hash
from depthgraph.server.errors import ServerError, combined_error_body, error_body
from depthgraph.server.inputs import check_image_inputs
from depthgraph.server.settings import API_KEY_ENV, ServerSettings, default_allowed_hosts

__all__ = [
    "API_KEY_ENV", "ServerError", "ServerSettings", "WorkflowCache", "combined_error_body",
    "create_app", "default_allowed_hosts", "definition_hash", "error_body", "check_image_inputs",
    "refuse_sinks", "run_server",
]
