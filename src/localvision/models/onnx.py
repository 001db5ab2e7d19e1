"""ONNX models through ONNX Runtime.

Execution providers are chosen automatically from what the installed ONNX Runtime offers
(TensorRT, CUDA, ROCm, CoreML, DirectML, else CPU) unless the user names them; short names
(``cuda``, ``tensorrt``, ``cpu``...) are accepted. Keras and PyTorch models end up here too,
after conversion (see :mod:`localvision.models.convert`).

With ``io_binding`` on, runs go through ONNX Runtime's I/O binding: the batch is bound from
host memory and outputs are allocated on the model's device (the GPU for CUDA and TensorRT)
and copied back in one step. It is off by default: the copies are the same as a plain run's,
and no gain has been measured yet (``benchmarks/gpu.py`` compares the two on a GPU). Should a
bound run fail where a plain one succeeds (a provider without binding support, or a transient
failure such as running out of device memory), the session logs it once and runs plainly from
then on; an input that fails both is the input's error, as without binding.
"""

from __future__ import annotations

import ast
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..errors import ConfigError, InferenceError, UnsupportedModelFormatError
from .card import CardFields, Layout, parse_card_fields, parse_labels
from .runtime import ACCELERATOR_DEVICES, RuntimeOptions, TensorSpec

__all__ = [
    "CARD_METADATA_KEY",
    "OnnxRuntime",
    "binding_device",
    "choose_providers",
    "load",
    "shape_hints",
]

log = logging.getLogger(__name__)

CARD_METADATA_KEY = "localvision.card"
"""ONNX metadata key under which localvision stores card hints (JSON) in converted models."""

PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
# Fastest first. Providers not in this list (Azure, ...) are never picked automatically.
AUTO_ORDER = (*ACCELERATOR_DEVICES, "CPUExecutionProvider")

# Providers whose memory I/O binding can allocate outputs in, and ONNX Runtime's device name.
BINDING_DEVICES = {
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "cuda",
}

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(uint16)": np.uint16,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def choose_providers(
    requested: Sequence[str] | None, available: Sequence[str] | None = None
) -> list[str]:
    """The providers to ask ONNX Runtime for, in order.

    ``requested`` None picks every available provider from :data:`AUTO_ORDER`; otherwise each
    requested name (full or short) must be available, and CPU is appended as the fallback.
    """
    have = list(ort.get_available_providers() if available is None else available)
    if not requested:
        return [p for p in AUTO_ORDER if p in have] or ["CPUExecutionProvider"]
    chosen: list[str] = []
    for name in requested:
        full = PROVIDER_ALIASES.get(name.strip().lower(), name.strip())
        if full not in have:
            raise ConfigError(
                f"Execution provider {name!r} is not available in this ONNX Runtime.",
                hint=f"Available: {', '.join(have)}. Install onnxruntime-gpu for CUDA/TensorRT.",
            )
        if full not in chosen:
            chosen.append(full)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def binding_device(providers: Sequence[str], io_binding: bool) -> str | None:
    """The device I/O binding allocates outputs on, or None to run without binding.

    The first provider's device (:data:`BINDING_DEVICES`), else the CPU's: on the CPU a bound
    run gives what a plain one gives, which is what the tests check.
    """
    if not io_binding:
        return None
    return BINDING_DEVICES.get(providers[0], "cpu") if providers else "cpu"


class OnnxRuntime:
    """An ONNX Runtime session behind the :class:`~localvision.models.runtime.Runtime` interface."""

    format = "onnx"

    def __init__(self, path: Path, options: RuntimeOptions, *, format_name: str = "onnx") -> None:
        self.format = format_name
        self.path = path
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        if options.threads:
            so.intra_op_num_threads = options.threads
        if not options.spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = choose_providers(options.providers)
        try:
            self._session: Any = ort.InferenceSession(str(path), so, providers=providers)
        except Exception as exc:  # ORT raises its own untyped errors for bad files
            raise UnsupportedModelFormatError(
                f"{path} is not a valid ONNX model: {exc}.",
                hint="Check that the file was exported completely.",
            ) from exc
        self.inputs = [_spec(arg) for arg in self._session.get_inputs()]
        self.outputs = [_spec(arg) for arg in self._session.get_outputs()]
        self._output_names = [o.name for o in self.outputs]
        self.bound_device = binding_device(self._session.get_providers(), options.io_binding)
        """Where runs bind outputs (None: plain runs)."""
        self._binding_lock = threading.Lock()

    @property
    def max_batch(self) -> int | None:
        first = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None
        return first

    @property
    def device(self) -> str:
        return str(self._session.get_providers()[0])

    def hints(self) -> CardFields:
        meta = self._session.get_modelmeta().custom_metadata_map
        fields = CardFields()
        if CARD_METADATA_KEY in meta:
            fields = parse_card_fields(json.loads(meta[CARD_METADATA_KEY]), where=str(self.path))
        labels = fields.labels or _metadata_labels(meta)
        update: dict[str, Any] = shape_hints(self.inputs[0]) if self.inputs else {}
        update.update(fields.given())
        if labels:
            update["labels"] = labels
        return CardFields.model_validate(update)

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        device = self.bound_device
        if device is not None:
            try:
                return self._run_bound(feeds, device)
            except Exception as exc:
                # A plain run tells the input's fault (it fails too, and binding stays) from
                # the binding's (it succeeds, and binding stops for this session).
                outputs = self._run_plain(feeds)
                self._stop_binding(exc)
                return outputs
        return self._run_plain(feeds)

    def _run_plain(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        try:
            return list(self._session.run(self._output_names, dict(feeds)))
        except Exception as exc:
            raise InferenceError(f"ONNX Runtime failed on {self.path.name}: {exc}.") from exc

    def _run_bound(
        self, feeds: Mapping[str, np.ndarray[Any, Any]], device: str
    ) -> list[np.ndarray[Any, Any]]:
        """One run through I/O binding (a binding per call: runs may be concurrent)."""
        binding = self._session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name in self._output_names:
            binding.bind_output(name, device)
        self._session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())

    def _stop_binding(self, exc: Exception) -> None:
        with self._binding_lock:
            if self.bound_device is None:
                return
            log.warning(
                "%s: a run through I/O binding on %s failed (%s); running without it.",
                self.path.name,
                self.bound_device,
                exc,
            )
            self.bound_device = None

    def close(self) -> None:
        self._session = None


def load(path: Path, options: RuntimeOptions, format_name: str = "onnx") -> OnnxRuntime:
    """Format-registry entry point."""
    return OnnxRuntime(path, options, format_name=format_name)


def shape_hints(spec: TensorSpec) -> dict[str, Any]:
    """Layout and input size read off a 4-D image input's shape, where it states them."""
    shape = spec.shape
    if len(shape) != 4:
        return {}
    if shape[1] in (1, 3) and shape[3] not in (1, 3):
        layout, hw = Layout.NCHW, (shape[2], shape[3])
    elif shape[3] in (1, 3):
        layout, hw = Layout.NHWC, (shape[1], shape[2])
    else:
        return {}
    out: dict[str, Any] = {"layout": layout}
    if hw[0] is not None and hw[1] is not None:
        out["input_size"] = hw
    return out


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
    return TensorSpec(arg.name, shape, np.dtype(_ORT_TYPES.get(arg.type, np.float32)))


def _metadata_labels(meta: Mapping[str, str]) -> list[str] | None:
    """Labels stored by common exporters: ``labels`` (JSON or lines) or ``names`` (a dict)."""
    raw = meta.get("labels")
    if raw:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return parse_labels(raw)
        if isinstance(value, list):
            return [str(v) for v in value]
    raw = meta.get("names")  # Ultralytics writes a Python dict literal {0: 'person', ...}
    if raw:
        try:
            names = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
    return None
