"""Open Inference Protocol v2 (KServe / Triton) REST ⇄ NumPy tensors.

Both tensor encodings are supported: JSON ``data`` (flat or nested, row-major) and Triton's
binary tensor extension, which ``tritonclient`` uses by default: the JSON header is followed
by raw little-endian tensors, its length given by the ``Inference-Header-Content-Length``
header, each binary input marked by ``parameters.binary_data_size``. ``BYTES`` elements are
4-byte little-endian length prefixes followed by their bytes in binary, strings in JSON.
"""

from __future__ import annotations

import json
import math
import reprlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError

__all__ = [
    "DATATYPES",
    "HEADER_LENGTH",
    "InferInput",
    "InferRequest",
    "datatype_of",
    "encode_response",
    "parse_request",
]

HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_DIMS = 32
"""Most axes a tensor may have (NumPy's own limit on some versions)."""
MAX_ELEMENTS = 2**40
"""Most elements a tensor's shape may declare: a bound that exact arithmetic can check before
anything is allocated (the body size limit is what really bounds the data)."""

DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
_NAMES = {
    np.dtype(t).newbyteorder("<").str: name for name, t in DATATYPES.items() if name != "BYTES"
}


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The OIP datatype name of a NumPy dtype (``BYTES`` for objects and strings)."""
    if dtype.kind in ("O", "S", "U"):
        return "BYTES"
    name = _NAMES.get(np.dtype(dtype).newbyteorder("<").str)
    if name is None:
        raise InvalidParameterError(f"dtype {dtype} has no Open Inference Protocol datatype.")
    return name


@dataclass
class InferInput:
    """One input tensor. ``data`` is an ndarray, of ``bytes`` objects for ``BYTES``."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]
    from_json: bool = False


@dataclass
class InferRequest:
    """A parsed infer request. ``outputs`` maps requested names to their ``binary_data`` flag
    (None: not stated); None means every output was requested."""

    id: str | None
    inputs: list[InferInput]
    outputs: dict[str, bool | None] | None
    binary_output: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


def parse_request(
    body: bytes, header_length: int | None, *, max_bytes_elements: int | None = None
) -> InferRequest:
    """Parse an infer request body, JSON-only or JSON header plus binary tensors.

    ``max_bytes_elements``: a ``BYTES`` input whose shape declares more elements than this is
    refused from its shape, before any of its elements is read (the server's images per
    request). Every malformed body raises :class:`InvalidParameterError`.
    """
    if header_length is not None and not 0 < header_length <= len(body):
        raise InvalidParameterError(
            f"{HEADER_LENGTH} is {header_length} but the body holds {len(body)} bytes."
        )
    header_bytes = body[:header_length] if header_length is not None else body
    binary = memoryview(body)[header_length:] if header_length is not None else memoryview(b"")
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(f"The request header is not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidParameterError("The request header is nested too deeply.") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InvalidParameterError("An infer request needs an 'inputs' list.")
    offset = 0
    inputs = []
    for i, raw in enumerate(header["inputs"]):
        tensor, used = _parse_input(raw, i, binary[offset:], max_bytes_elements)
        offset += used
        inputs.append(tensor)
    if offset != len(binary):
        raise InvalidParameterError(
            f"The binary section holds {len(binary)} bytes but the inputs use {offset}."
        )
    parameters = _parameters(header, "The request")
    outputs = None
    if header.get("outputs") is not None:
        outputs = {}
        if not isinstance(header["outputs"], list):
            raise InvalidParameterError("'outputs' must be a list.")
        for raw in header["outputs"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise InvalidParameterError("Each requested output needs a 'name'.")
            flag = _parameters(raw, f"Output {raw['name']!r}").get("binary_data")
            outputs[raw["name"]] = None if flag is None else bool(flag)
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str | int | float):
        raise InvalidParameterError("The request's 'id' must be a string.")
    return InferRequest(
        id=str(request_id) if request_id is not None else None,
        inputs=inputs,
        outputs=outputs,
        binary_output=bool(parameters.get("binary_data_output", False)),
        parameters=dict(parameters),
    )


def _parameters(raw: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidParameterError(f"{what}'s 'parameters' must be an object.")
    return parameters


def _parse_input(
    raw: Any, index: int, binary: memoryview, max_bytes_elements: int | None
) -> tuple[InferInput, int]:
    if not isinstance(raw, dict):
        raise InvalidParameterError(f"inputs[{index}] must be an object.")
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str):
        raise InvalidParameterError(f"inputs[{index}] needs a 'name'.")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidParameterError(
            f"Input {name!r} has datatype {reprlib.repr(datatype)}; valid: {', '.join(DATATYPES)}."
        )
    dims = _dims(name, shape)
    count = math.prod(dims)
    if datatype == "BYTES" and max_bytes_elements is not None and count > max_bytes_elements:
        raise InvalidParameterError(
            f"Input {name!r} holds {count:,} BYTES elements; at most {max_bytes_elements} "
            "are allowed per request.",
            hint="Split the batch into several requests.",
        )
    size = _parameters(raw, f"Input {name!r}").get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or size > len(binary):
            raise InvalidParameterError(
                f"Input {name!r} declares binary_data_size {reprlib.repr(size)}; "
                f"{len(binary)} bytes remain."
            )
        chunk = binary[:size]
        data = (
            _bytes_elements(chunk, name) if datatype == "BYTES" else _fixed(chunk, datatype, name)
        )
        used = size
    else:
        if "data" not in raw:
            raise InvalidParameterError(f"Input {name!r} has neither 'data' nor binary data.")
        data = _json_data(raw["data"], datatype, name)
        used = 0
    if data.size != count:
        raise InvalidParameterError(
            f"Input {name!r} has shape {list(dims)} ({count} elements) but {data.size} elements."
        )
    return InferInput(name, datatype, dims, data.reshape(dims), from_json=size is None), used


def _dims(name: str, shape: Any) -> tuple[int, ...]:
    """A declared shape, checked in exact arithmetic before anything is allocated: NumPy's
    int64 product wraps ``[4294967296, 4294967296]`` round to 0 elements."""
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InvalidParameterError(f"Input {name!r} needs a 'shape' of non-negative ints.")
    if len(shape) > MAX_DIMS:
        raise InvalidParameterError(
            f"Input {name!r} has {len(shape)} axes; at most {MAX_DIMS} are allowed."
        )
    count = math.prod(shape)
    if count > MAX_ELEMENTS or any(d > MAX_ELEMENTS for d in shape):
        raise InvalidParameterError(
            f"Input {name!r} declares shape {shape}, {count:,} elements; at most "
            f"{MAX_ELEMENTS:,} are allowed."
        )
    return tuple(shape)


def _fixed(chunk: memoryview, datatype: str, name: str) -> np.ndarray[Any, Any]:
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if len(chunk) % dtype.itemsize:
        raise InvalidParameterError(
            f"Input {name!r}: {len(chunk)} bytes is not a whole number of {datatype} elements."
        )
    return np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="))


def _bytes_elements(chunk: memoryview, name: str) -> np.ndarray[Any, Any]:
    items: list[bytes] = []
    offset = 0
    while offset < len(chunk):
        if offset + 4 > len(chunk):
            raise InvalidParameterError(f"Input {name!r}: truncated BYTES length prefix.")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > len(chunk):
            raise InvalidParameterError(f"Input {name!r}: BYTES element runs past the data.")
        items.append(bytes(chunk[offset : offset + length]))
        offset += length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _json_data(data: Any, datatype: str, name: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        flat = _flatten(data)
        if not all(isinstance(v, str | bytes) for v in flat):
            raise InvalidParameterError(f"Input {name!r}: BYTES data must be strings.")
        array = np.empty(len(flat), dtype=object)
        array[:] = [v.encode() if isinstance(v, str) else v for v in flat]
        return array
    try:
        return np.asarray(data, dtype=DATATYPES[datatype]).ravel()
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameterError(f"Input {name!r}: data is not {datatype}: {exc}.") from None
    except RecursionError:
        raise InvalidParameterError(f"Input {name!r}: data is nested too deeply.") from None


def _flatten(data: Any) -> list[Any]:
    """Row-major leaves of nested lists, without recursion (nesting depth is the caller's)."""
    out: list[Any] = []
    stack: list[Any] = [iter([data])]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            out.append(item)
    return out


_END = object()


def encode_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Sequence[tuple[str, np.ndarray[Any, Any]]],
    binary: Mapping[str, bool],
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in outputs:
        datatype = datatype_of(array.dtype)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary.get(name):
            raw = _encode_binary(array, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = _encode_json(array, datatype)
        entries.append(entry)
    header: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        header["id"] = request_id
    header["outputs"] = entries
    head = json.dumps(header, separators=(",", ":")).encode()  # NaN stays NaN
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)


def _encode_binary(array: np.ndarray[Any, Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for item in array.ravel():
            data = item if isinstance(item, bytes) else str(item).encode()
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _encode_json(array: np.ndarray[Any, Any], datatype: str) -> list[Any]:
    flat = array.ravel()
    if datatype == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    if datatype == "FP16":
        flat = flat.astype(np.float32)
    values: list[Any] = flat.tolist()
    return values
