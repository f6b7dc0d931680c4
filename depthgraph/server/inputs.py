"""Runtime inputs of a request: image values (base64, data URLs, URLs) decoded under the limits."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from depthgraph.engine.errors import RuntimeInputError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.image_decoding import ImageReadError, ImageTooLargeError, decode_image_bytes
from depthgraph.server.errors import ServerError
from depthgraph.server.settings import ServerSettings


def _image_bytes(value: Any, where: str, settings: ServerSettings) -> bytes:
    """The encoded bytes of one image input value (base64 dict, bare base64 string or URL)."""
    kind = "base64"
    if isinstance(value, dict):
        kind = str(value.get("type", "base64")).lower()
        if "value" not in value:
            raise RuntimeInputError(f"{where}: image object has no 'value'", property=where)
        value = value["value"]
    if not isinstance(value, str):
        raise RuntimeInputError(
            f"{where}: expected an image as {{'type': 'base64', 'value': ...}} or a base64 string, "
            f"got {type(value).__name__}", property=where)
    if kind == "url" or (kind == "base64" and value.startswith(("http://", "https://"))):
        return _fetch_url(value, where, settings)
    if kind != "base64":
        raise RuntimeInputError(f"{where}: image type '{kind}' is not supported (use 'base64')",
                                property=where)
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RuntimeInputError(f"{where}: image value is not valid base64", property=where) from None


def _fetch_url(url: str, where: str, settings: ServerSettings) -> bytes:
    if not settings.allow_url_images:
        raise ServerError(403, f"{where}: URL images are disabled on this server; send the image "
                          "as base64 (or start the server with --allow-url-images)",
                          "URLImagesDisabled")
    import httpx

    try:
        with httpx.stream("GET", url, timeout=settings.url_fetch_timeout_s,
                          follow_redirects=True) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > settings.max_body_bytes:
                    raise RuntimeInputError(f"{where}: image at {url} is larger than "
                                            f"{settings.max_body_bytes} bytes", property=where)
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise RuntimeInputError(f"{where}: could not fetch {url} ({type(exc).__name__}: {exc})",
                                property=where) from None


def _decode_one(value: Any, where: str, settings: ServerSettings) -> WorkflowImageData:
    data = _image_bytes(value, where, settings)
    try:
        array = decode_image_bytes(data, where, max_pixels=settings.max_image_pixels)
    except ImageReadError as exc:
        status = 413 if isinstance(exc, ImageTooLargeError) else 400
        raise ServerError(status, str(exc), "ImageTooLarge" if status == 413 else "InvalidImage",
                          where) from None
    return WorkflowImageData(numpy_image=array)


def prepare_inputs(workflow: Any, inputs: dict[str, Any], settings: ServerSettings) -> dict[str, Any]:
    """Decode the image inputs (with the size limits) and check the batch size."""
    prepared = dict(inputs)
    total = 0
    for name in getattr(workflow, "image_input_names", []):
        if name not in inputs:
            continue
        value = inputs[name]
        if isinstance(value, list):
            total += len(value)
            if total > settings.max_batch_size:
                raise ServerError(413, f"inputs: {total} images or more, more than the batch limit "
                                  f"of {settings.max_batch_size}", "BatchTooLarge", name)
            prepared[name] = [_decode_one(v, f"inputs.{name}[{i}]", settings)
                              for i, v in enumerate(value)]
        else:
            total += 1
            prepared[name] = _decode_one(value, f"inputs.{name}", settings)
    return prepared
