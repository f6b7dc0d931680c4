"""Runtime image inputs of a request: checked under the server's limits, handed on undecoded.

The server reads each image value to its encoded bytes (base64 through the engine's one parser,
:func:`depthgraph.engine.serialization.base64_bytes`, or a URL fetched under the URL rules),
counts the images, and reads every image's size from its header (per image and per request)
before anything is decoded. The bytes go on to the workflow as
:class:`~depthgraph.engine.serialization.EncodedImage` values, which the engine's one decoder
(:func:`~depthgraph.engine.serialization.decode_image`) decodes when the workflow runs.
"""

from __future__ import annotations

from typing import Any

from depthgraph.engine.errors import RuntimeInputError
from depthgraph.engine.serialization import EncodedImage, base64_bytes
from depthgraph.image_decoding import ImageReadError, ImageTooLargeError, check_pixel_limit
from depthgraph.server.errors import ServerError
from depthgraph.server.settings import ServerSettings


def _image_bytes(value: Any, where: str, settings: ServerSettings) -> tuple[bytes, str | None]:
    """(encoded bytes, parent id) of one image input value (base64 dict, bare base64 or URL)."""
    kind = "base64"
    parent = None
    if isinstance(value, dict):
        kind = str(value.get("type", "base64")).lower()
        if "value" not in value:
            raise RuntimeInputError("image object has no 'value'", property=where)
        parent = value.get("parent_id") if isinstance(value.get("parent_id"), str) else None
        value = value["value"]
    if not isinstance(value, str):
        raise RuntimeInputError(
            "expected an image as {'type': 'base64', 'value': ...} or a base64 string, "
            f"got {type(value).__name__}", property=where)
    if kind == "url" or (kind == "base64" and value.startswith(("http://", "https://"))):
        return _fetch_url(value, where, settings), parent
    if kind != "base64":
        raise RuntimeInputError(f"image type '{kind}' is not supported (use 'base64' or 'url')",
                                property=where)
    try:
        return base64_bytes(value), parent
    except ValueError:
        raise RuntimeInputError("image value is not valid base64", property=where) from None


def _fetch_url(url: str, where: str, settings: ServerSettings) -> bytes:
    if not settings.allow_url_images:
        raise ServerError(403, f"{where}: URL images are disabled on this server; send the image "
                          "as base64 (or start the server with --allow-url-images)",
                          "URLImagesDisabled")
    from depthgraph.server.urls import fetch_or_refuse

    return fetch_or_refuse(url, where, settings)


def _header_pixels(data: bytes, where: str, settings: ServerSettings) -> int:
    """Pixels of one encoded image as its header declares them (checked against the per-image
    limit); refused when the header cannot be read or is ambiguous."""
    try:
        size = check_pixel_limit(data, where, settings.max_image_pixels)
    except ImageReadError as exc:
        status = 413 if isinstance(exc, ImageTooLargeError) else 400
        raise ServerError(status, str(exc), "ImageTooLarge" if status == 413 else "InvalidImage",
                          where) from None
    return 0 if size is None else int(size[0]) * int(size[1])


def check_image_inputs(workflow: Any, inputs: dict[str, Any],
                       settings: ServerSettings) -> dict[str, Any]:
    """The runtime inputs with every image as checked, undecoded bytes (an EncodedImage).

    Refused before any decoding: more images than ``max_batch_size`` (413), an image whose header
    says more than ``max_image_pixels`` (413) or cannot be read (400), more than
    ``max_total_pixels`` over the request (413).
    """
    checked = dict(inputs)
    count = 0
    total = 0
    for name in getattr(workflow, "image_input_names", []):
        if name not in inputs:
            continue
        value = inputs[name]
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        count += len(items)
        if count > settings.max_batch_size:
            raise ServerError(413, f"inputs: {count} images or more, more than the batch limit "
                              f"of {settings.max_batch_size}", "BatchTooLarge", name)
        images = []
        for index, item in items:
            where = f"inputs.{name}" if index is None else f"inputs.{name}[{index}]"
            data, parent = _image_bytes(item, where, settings)
            total += _header_pixels(data, where, settings)
            if total > settings.max_total_pixels:
                raise ServerError(413, f"{where}: the images of this request hold more than "
                                  f"{settings.max_total_pixels} pixels in all (the per-request "
                                  "limit)", "TooManyPixels", where)
            images.append(EncodedImage(data, settings.max_image_pixels, parent))
        checked[name] = images if isinstance(value, list) else images[0]
    return checked
