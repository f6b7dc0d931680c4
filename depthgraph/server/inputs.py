"""Runtime inputs of a request: image values (base64, data URLs, URLs) decoded under the limits."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from depthgraph.engine.errors import RuntimeInputError
from depthgraph.engine.values import WorkflowImageData
from depthgraph.image_decoding import (ImageReadError, ImageTooLargeError, check_pixel_limit,
                                       decode_image_bytes)
from depthgraph.server.errors import ServerError
from depthgraph.server.settings import ServerSettings


def _image_bytes(value: Any, where: str, settings: ServerSettings) -> bytes:
    """The encoded bytes of one image input value (base64 dict, bare base64 string or URL)."""
    kind = "base64"
    if isinstance(value, dict):
        kind = str(value.get("type", "base64")).lower()
        if "value" not in value:
            raise RuntimeInputError("image object has no 'value'", property=where)
        value = value["value"]
    if not isinstance(value, str):
        raise RuntimeInputError(
            "expected an image as {'type': 'base64', 'value': ...} or a base64 string, "
            f"got {type(value).__name__}", property=where)
    if kind == "url" or (kind == "base64" and value.startswith(("http://", "https://"))):
        return _fetch_url(value, where, settings)
    if kind != "base64":
        raise RuntimeInputError(f"image type '{kind}' is not supported (use 'base64' or 'url')",
                                property=where)
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RuntimeInputError("image value is not valid base64", property=where) from None


def _fetch_url(url: str, where: str, settings: ServerSettings) -> bytes:
    if not settings.allow_url_images:
        raise ServerError(403, f"{where}: URL images are disabled on this server; send the image "
                          "as base64 (or start the server with --allow-url-images)",
                          "URLImagesDisabled")
    from depthgraph.server.urls import fetch_or_refuse

    return fetch_or_refuse(url, where, settings)


def _decode_one(value: Any, where: str, settings: ServerSettings) -> WorkflowImageData:
    return _decode_data(_image_bytes(value, where, settings), where, settings)


def _header_pixels(data: bytes, where: str, settings: ServerSettings) -> int:
    """Pixels of one encoded image as its header declares them (checked against the per-image
    limit); 0 when the header says nothing (the decoder then refuses or checks it)."""
    try:
        size = check_pixel_limit(data, where, settings.max_image_pixels)
    except ImageReadError as exc:
        status = 413 if isinstance(exc, ImageTooLargeError) else 400
        raise ServerError(status, str(exc), "ImageTooLarge" if status == 413 else "InvalidImage",
                          where) from None
    return 0 if size is None else int(size[0]) * int(size[1])


def _decode_data(data: bytes, where: str, settings: ServerSettings) -> WorkflowImageData:
    try:
        array = decode_image_bytes(data, where, max_pixels=settings.max_image_pixels)
    except ImageReadError as exc:
        status = 413 if isinstance(exc, ImageTooLargeError) else 400
        raise ServerError(status, str(exc), "ImageTooLarge" if status == 413 else "InvalidImage",
                          where) from None
    return WorkflowImageData(numpy_image=array)


def prepare_inputs(workflow: Any, inputs: dict[str, Any], settings: ServerSettings) -> dict[str, Any]:
    """Decode the image inputs under the limits: images per request, pixels per image and pixels
    per request (both read from the headers before anything is decoded)."""
    prepared = dict(inputs)
    encoded: list[tuple[str, int | None, str, bytes]] = []  # (input, index, where, bytes)
    for name in getattr(workflow, "image_input_names", []):
        if name not in inputs:
            continue
        value = inputs[name]
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        if isinstance(value, list):
            prepared[name] = []  # filled below, in order
        if len(encoded) + len(items) > settings.max_batch_size:
            raise ServerError(413, f"inputs: {len(encoded) + len(items)} images or more, more than "
                              f"the batch limit of {settings.max_batch_size}", "BatchTooLarge", name)
        for index, item in items:
            where = f"inputs.{name}" if index is None else f"inputs.{name}[{index}]"
            encoded.append((name, index, where, _image_bytes(item, where, settings)))
    total = 0
    for _, _, where, data in encoded:
        total += _header_pixels(data, where, settings)
        if total > settings.max_total_pixels:
            raise ServerError(413, f"{where}: the images of this request hold more than "
                              f"{settings.max_total_pixels} pixels in all (the per-request limit)",
                              "TooManyPixels", where)
    for name, index, where, data in encoded:
        image = _decode_data(data, where, settings)
        if index is None:
            prepared[name] = image
        else:
            prepared[name].append(image)
    return prepared
