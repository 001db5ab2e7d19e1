from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from localvision.errors import ModelNotFoundError, UnsupportedModelFormatError
from localvision.models.formats import FORMATS, detect_format


def zip_with(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return path


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("m.tflite", b"\x1c\x00\x00\x00TFL3" + b"\x00" * 32, "tflite"),
        ("renamed.bin", b"\x1c\x00\x00\x00TFL3" + b"\x00" * 32, "tflite"),
        ("m.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 32, "keras_h5"),
        ("m.onnx", b"\x08\x07\x12\x04test", "onnx"),
        ("legacy.pt", pickle.dumps({"a": 1}, protocol=2), "torch_pickle"),
    ],
)
def test_formats_are_recognised_by_content(
    tmp_path: Path, filename: str, content: bytes, expected: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    assert detect_format(path).name == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["metadata.json", "config.json", "model.weights.h5"], "keras"),
        (["m/code/__torch__.py", "m/constants.pkl", "m/data.pkl"], "torchscript"),
        (["m/models/model.json", "m/archive_format", "m/data/weights/w0"], "torch_export"),
        (["m/data.pkl", "m/data/0", "m/version"], "torch_pickle"),
    ],
)
def test_zip_based_formats_are_told_apart_by_their_members(
    tmp_path: Path, names: list[str], expected: str
) -> None:
    # The suffix is deliberately unhelpful: content decides.
    assert detect_format(zip_with(tmp_path / "model.bin", names)).name == expected


def test_unknown_files_list_what_is_supported(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"{}")
    with pytest.raises(UnsupportedModelFormatError, match="not a model format") as info:
        detect_format(path)
    assert ".onnx" in (info.value.hint or "") and ".tflite" in (info.value.hint or "")


def test_unknown_zip_is_not_guessed(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelFormatError):
        detect_format(zip_with(tmp_path / "model.pt", ["readme.txt"]))


def test_missing_model_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        detect_format(tmp_path / "nope.onnx")
    with pytest.raises(ModelNotFoundError, match="not a file"):
        detect_format(tmp_path)


def test_every_format_names_its_loader_module_and_extra() -> None:
    for fmt in FORMATS.values():
        assert fmt.module.startswith("localvision.models.")
        assert fmt.extra in (None, "litert", "keras", "torch")
