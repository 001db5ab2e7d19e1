from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localvision.config import Settings
from localvision.errors import ConfigError, InferenceError, UnsupportedModelFormatError
from localvision.models.card import Layout
from localvision.models.onnx import OnnxRuntime, binding_device, choose_providers
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


@pytest.mark.parametrize(
    ("providers", "io_binding", "device"),
    [
        (["CUDAExecutionProvider", "CPUExecutionProvider"], True, "cuda"),
        (["TensorrtExecutionProvider", "CUDAExecutionProvider"], True, "cuda"),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], False, None),
        (["CPUExecutionProvider"], True, "cpu"),
        (["CPUExecutionProvider"], False, None),
        (["CoreMLExecutionProvider", "CPUExecutionProvider"], True, "cpu"),
    ],
)
def test_io_binding_binds_outputs_on_the_first_providers_device(
    providers: list[str], io_binding: bool, device: str | None
) -> None:
    assert binding_device(providers, io_binding) == device


def colour_batch() -> np.ndarray:  # type: ignore[type-arg]
    batch = np.zeros((3, 3, 16, 16), np.float32)
    batch[0, 0] = 1.0  # red
    batch[1, 1] = 1.0  # green
    batch[2, 2] = 1.0  # blue
    return batch


def test_a_bound_run_gives_what_a_plain_run_gives(
    colour_model_path: Path, settings: Settings
) -> None:
    plain = OnnxRuntime(colour_model_path, options(settings, threads=1, providers=["cpu"]))
    bound = OnnxRuntime(
        colour_model_path, options(settings, threads=1, providers=["cpu"], io_binding=True)
    )
    assert plain.bound_device is None and bound.bound_device == "cpu"
    expected = plain.run({"image": colour_batch()})
    got = bound.run({"image": colour_batch()})
    assert [a.shape for a in got] == [a.shape for a in expected] == [(3, 4)]
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    assert got[0].argmax(axis=1).tolist() == [0, 1, 2]
    assert bound.bound_device == "cpu"  # it really ran bound: no fallback happened


def test_a_bad_input_fails_as_itself_and_binding_stays(
    colour_model_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = OnnxRuntime(
        colour_model_path, options(settings, threads=1, providers=["cpu"], io_binding=True)
    )
    bound_runs: list[str] = []
    run_bound = runtime._run_bound

    def counted(feeds: Any, device: str) -> list[np.ndarray]:  # type: ignore[type-arg]
        bound_runs.append(device)
        return run_bound(feeds, device)

    monkeypatch.setattr(runtime, "_run_bound", counted)
    with pytest.raises(InferenceError, match="ONNX Runtime failed"):
        runtime.run({"image": np.zeros((1, 3, 9, 9), np.float32)})
    assert bound_runs == ["cpu"]  # tried bound first, then plainly, and both failed
    assert runtime.bound_device == "cpu"


def test_a_binding_the_provider_refuses_falls_back_to_plain_runs_once(
    colour_model_path: Path,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider that refuses bound runs (none does on this CPU-only ONNX Runtime, so the
    refusal is simulated): the run still answers, plainly, and the session says so once and
    stops binding."""
    runtime = OnnxRuntime(colour_model_path, options(settings, threads=1, providers=["cpu"]))
    runtime.bound_device = "cuda"
    attempts: list[str] = []

    def refuse(feeds: object, device: str) -> list[np.ndarray]:  # type: ignore[type-arg]
        attempts.append(device)
        raise RuntimeError("this provider cannot bind outputs on cuda")

    monkeypatch.setattr(runtime, "_run_bound", refuse)
    with caplog.at_level(logging.WARNING, logger="localvision.models.onnx"):
        first = runtime.run({"image": colour_batch()})
        second = runtime.run({"image": colour_batch()})
    assert first[0].argmax(axis=1).tolist() == second[0].argmax(axis=1).tolist() == [0, 1, 2]
    assert attempts == ["cuda"] and runtime.bound_device is None
    warnings = [r for r in caplog.records if "I/O binding" in r.getMessage()]
    assert len(warnings) == 1 and "cannot bind outputs" in warnings[0].getMessage()


def test_the_io_binding_setting_reaches_the_runtime(tmp_path: Path, settings: Settings) -> None:
    from localvision.models.loader import load_model

    path = tmp_path / "colour.onnx"
    colour_classifier_onnx(path)
    assert Settings().io_binding is False
    on = Settings.load(None, environ={"LOCALVISION_IO_BINDING": "true"})
    assert on.io_binding is True
    on_cpu = settings.model_copy(update={"providers": ["cpu"]})
    for configured, device in (
        (on_cpu, None),
        (on_cpu.model_copy(update={"io_binding": True}), "cpu"),
    ):
        model = load_model(path, settings=configured)
        try:
            assert model.runtime.bound_device == device  # type: ignore[attr-defined]
        finally:
            model.close()
