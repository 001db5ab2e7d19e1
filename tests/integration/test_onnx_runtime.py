from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from localvision.config import Settings
from localvision.errors import ConfigError, UnsupportedModelFormatError
from localvision.models.card import Layout
from localvision.models.onnx import OnnxRuntime, choose_providers
from localvision.models.runtime import RuntimeOptions

from ..builders import colour_classifier_onnx


def options(settings: Settings, **kw: object) -> RuntimeOptions:
    return RuntimeOptions(cache_dir=settings.cache_dir, **kw)  # type: ignore[arg-type]


def test_runtime_reports_tensors_and_shape_hints(
    colour_model_path: Path, settings: Settings
) -> None:
    runtime = OnnxRuntime(colour_model_path, options(settings, threads=1))
    assert [(t.name, t.shape, t.dtype) for t in runtime.inputs] == [
        ("image", (None, 3, 16, 16), np.dtype(np.float32))
    ]
    assert runtime.outputs[0].shape == (None, 4)
    assert runtime.max_batch is None
    assert runtime.device == "CPUExecutionProvider"
    hints = runtime.hints()
    assert hints.layout is Layout.NCHW and hints.input_size == (16, 16)
    batch = np.zeros((2, 3, 16, 16), np.float32)
    batch[0, 0] = 1.0  # red
    batch[1, 2] = 1.0  # blue
    logits = runtime.run({"image": batch})[0]
    assert logits.argmax(axis=1).tolist() == [0, 2]


def _with_metadata(tmp_path: Path, key: str, value: str) -> Path:
    import onnx

    path = tmp_path / "m.onnx"
    colour_classifier_onnx(path)
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("labels", json.dumps(["r", "g", "b", "k"])),
        ("labels", "r\ng\nb\nk"),
        ("names", "{0: 'r', 1: 'g', 2: 'b', 3: 'k'}"),
    ],
)
def test_labels_from_onnx_metadata(
    tmp_path: Path, settings: Settings, key: str, value: str
) -> None:
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    runtime = OnnxRuntime(_with_metadata(tmp_path, key, value), options(settings))
    assert runtime.hints().labels == ["r", "g", "b", "k"]


def test_card_hints_stored_in_metadata_are_read_back(tmp_path: Path, settings: Settings) -> None:
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    path = _with_metadata(tmp_path, "localvision.card", json.dumps({"input_range": "0..255"}))
    assert OnnxRuntime(path, options(settings)).hints().input_range == "0..255"


def test_a_broken_file_is_not_a_valid_onnx_model(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(UnsupportedModelFormatError, match="not a valid ONNX model"):
        OnnxRuntime(path, options(settings))


def test_providers_auto_order_prefers_accelerators() -> None:
    available = ["AzureExecutionProvider", "CPUExecutionProvider", "CUDAExecutionProvider"]
    assert choose_providers(None, available) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(None, ["AzureExecutionProvider"]) == ["CPUExecutionProvider"]


def test_requested_providers_accept_short_names_and_keep_cpu_fallback() -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["cuda"], available) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(ConfigError, match="'tensorrt' is not available") as info:
        choose_providers(["tensorrt"], available)
    assert "CUDAExecutionProvider" in (info.value.hint or "")


def test_the_spin_setting_reaches_onnx_runtimes_session(tmp_path: Path, settings: Settings) -> None:
    """Threads do not busy-wait by default (the image work needs those cores); ``spin = true``
    lets them."""
    from localvision.models.loader import load_model

    path = tmp_path / "colour.onnx"
    colour_classifier_onnx(path)

    def allow_spinning(configured: Settings) -> str | None:
        """The session's entry; None when not set (ONNX Runtime's default: spinning)."""
        model = load_model(path, settings=configured)
        try:
            options = model.runtime._session.get_session_options()  # type: ignore[attr-defined]
            try:
                return str(options.get_session_config_entry("session.intra_op.allow_spinning"))
            except RuntimeError:  # "does not have configuration with key"
                return None
        finally:
            model.close()

    assert Settings().spin is False
    assert allow_spinning(settings) == "0"
    assert Settings.load(None, environ={"LOCALVISION_SPIN": "true"}).spin is True
    assert allow_spinning(settings.model_copy(update={"spin": True})) is None
