"""The ``localvision`` command end to end: exit codes, --json shape, error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localvision.cli.app import app

from ..builders import colour_classifier_onnx, truncated_interlaced_png
from ..conftest import solid_jpeg

runner = CliRunner()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    (folder / "red.jpg").write_bytes(solid_jpeg((240, 10, 10)))
    (folder / "more" / "blue.jpg").write_bytes(solid_jpeg((10, 10, 240)))
    (folder / "notes.txt").write_text("not an image, skipped when listing the folder")
    return folder


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def json_lines(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_classify_folder_as_json_lines(colour_model_path: Path, photos: Path) -> None:
    code, out, _ = run(
        "classify", "-m", str(colour_model_path), str(photos), "--top-k", "2", "--json"
    )
    assert code == 0
    lines = json_lines(out)
    assert [Path(line["image"]).name for line in lines] == ["blue.jpg", "red.jpg"]
    assert lines[1]["labels"][0]["label"] == "red"
    assert set(lines[1]) == {"image", "width", "height", "labels"}
    assert set(lines[1]["labels"][0]) == {"label", "score", "index"}
    assert len(lines[1]["labels"]) == 2


def test_one_bad_image_reports_its_error_and_exits_1(colour_model_path: Path, photos: Path) -> None:
    bad = photos / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    code, out, _ = run(
        "classify",
        "-m",
        str(colour_model_path),
        str(photos / "red.jpg"),
        str(bad),
        str(photos / "missing.png"),
        "--json",
    )
    assert code == 1
    lines = json_lines(out)
    assert lines[0]["labels"][0]["label"] == "red"
    assert lines[1]["error"]["type"] == "ImageDecodeError"
    assert lines[2]["error"]["type"] == "ImageNotFoundError"


def test_human_output_is_a_table(
    colour_model_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(photos)
    code, out, _ = run("classify", "-m", str(colour_model_path), "red.jpg")
    assert code == 0
    assert "red.jpg" in out and "red 100.0%" in out


def test_missing_model_is_one_line_and_exit_2(photos: Path, tmp_path: Path) -> None:
    code, out, err = run("classify", "-m", str(tmp_path / "nope.onnx"), str(photos))
    assert code == 2
    assert out == ""
    assert err.strip().startswith("error: No model file, configured or registered model named")
    assert len(err.strip().splitlines()) == 1


def test_unsupported_model_file_is_exit_2(photos: Path) -> None:
    code, _, err = run("classify", "-m", str(photos / "notes.txt"), str(photos))
    assert code == 2 and "not a model format" in err


def test_card_overrides_from_set_and_labels(
    colour_model_path: Path, photos: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("R\nG\nB\nK\n")
    code, out, _ = run(
        "classify",
        "-m",
        str(colour_model_path),
        str(photos / "red.jpg"),
        "--labels",
        str(labels),
        "--set",
        "input_range=0..1",
        "--json",
    )
    assert code == 0 and json_lines(out)[0]["labels"][0]["label"] == "R"
    code, _, err = run(
        "classify", "-m", str(colour_model_path), str(photos), "--set", "input_size=32"
    )
    assert code == 2 and "contradicts the model's fixed input [16, 16]" in err
    code, _, err = run("classify", "-m", str(colour_model_path), str(photos), "--set", "nonsense")
    assert code == 2 and "FIELD=VALUE" in err


def test_no_images_found_is_a_usage_error(colour_model_path: Path, tmp_path: Path) -> None:
    code, _, err = run("classify", "-m", str(colour_model_path), str(tmp_path))
    assert code == 2 and "No images found" in err


def test_annotate_with_model_and_with_config(
    colour_model_path: Path, photos: Path, tmp_path: Path
) -> None:
    code, out, _ = run("annotate", str(photos / "red.jpg"), "-m", str(colour_model_path), "--json")
    assert code == 0 and json_lines(out)[0]["labels"][0]["label"] == "red"
    config = tmp_path / "localvision.toml"
    config.write_text(
        f'[models.colours]\npath = "{colour_model_path}"\n[features]\nlabels = "colours"\n'
    )
    code, out, _ = run("annotate", str(photos / "more"), "--config", str(config), "--json")
    assert code == 0 and json_lines(out)[0]["labels"][0]["label"] == "blue"


def test_annotate_without_any_model_says_how_to_add_one(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("annotate", str(photos), "--features", "labels")
    assert code == 2 and "No model is configured for 'labels'" in err and "--model" in err
    code, _, err = run("annotate", str(photos), "--features", "labels,sentiment")
    assert code == 2 and "Unknown feature 'sentiment'" in err


def test_models_inspect_json_marks_provenance(colour_model_path: Path) -> None:
    code, out, _ = run("models", "inspect", str(colour_model_path), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["format"] == "onnx"
    assert report["inputs"] == [{"name": "image", "shape": [-1, 3, 16, 16], "dtype": "float32"}]
    assert report["card"]["labels"] == {"count": 4, "first": ["red", "green", "blue", "gray"]}
    assert report["card"]["provenance"]["labels"] == "card"
    assert report["card"]["provenance"]["resize"] == "default"
    assert len(report["sha256"]) == 64


def test_models_inspect_human_output_flags_defaults(colour_model_path: Path) -> None:
    code, out, _ = run("models", "inspect", str(colour_model_path))
    assert code == 0 and "model card" in out and "default" in out and "assumptions" in out


def test_models_formats_lists_every_format() -> None:
    code, out, _ = run("models", "formats", "--json")
    assert code == 0
    assert {row["format"] for row in json.loads(out)} >= {"onnx", "tflite", "keras", "torchscript"}


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("localvision ")


@pytest.mark.slow
def test_installed_console_script_on_real_fixtures(models_dir: Path, photos_dir: Path) -> None:
    pytest.importorskip("ai_edge_litert", reason="the litert extra runs .tflite models")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "localvision",
            "classify",
            "-m",
            str(models_dir / "mobilenet_v2_1.0_224_quant.tflite"),
            str(photos_dir / "cat.bmp"),
            str(photos_dir / "bird.bmp"),
            "--top-k",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = json_lines(proc.stdout)
    assert [line["labels"][0]["label"] for line in lines] == ["Egyptian cat", "chickadee"]
    assert all(len(line["labels"]) <= 5 for line in lines)


def test_annotate_on_its_defaults_needs_no_model(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("annotate", str(photos / "red.jpg"), "--json", "--aspect-ratios", "1,2")
    assert code == 0
    (line,) = json_lines(out)
    assert "labels" not in line
    assert line["colors"][0]["simple_name"] == "red" and line["colors"][0]["pixel_fraction"] == 1.0
    assert set(line["quality"]) == {"brightness", "sharpness", "contrast"}
    assert [hint["aspect_ratio"] for hint in line["crop_hints"]] == [1.0, 2.0]
    assert line["crop_hints"][0]["box"] == [8, 0, 55, 47]  # a centred 48x48 square of 64x48
    code, _, err = run("annotate", str(photos / "red.jpg"), "--aspect-ratios", "1,x")
    assert code == 2 and "--aspect-ratios" in err


def test_annotate_auto_includes_labels_when_a_model_is_given(
    colour_model_path: Path, photos: Path
) -> None:
    code, out, _ = run("annotate", str(photos / "red.jpg"), "-m", str(colour_model_path), "--json")
    line = json_lines(out)[0]
    assert code == 0 and line["labels"][0]["label"] == "red" and "colors" in line


def test_annotate_with_a_detector_reports_objects(photos: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    from ..builders import constant_detector_onnx, yolov8_table

    detector = tmp_path / "detector.onnx"
    constant_detector_onnx(detector, {"output0": yolov8_table()})
    code, out, _ = run(
        "annotate",
        str(photos / "red.jpg"),
        "-m",
        str(detector),
        "--labels",
        str(_labels(tmp_path, ["cat", "dog"])),
        "--json",
    )
    line = json_lines(out)[0]
    assert code == 0 and "labels" not in line
    assert [o["label"] for o in line["objects"]] == ["cat", "dog", "cat"]
    code, out, _ = run(
        "annotate", str(photos / "red.jpg"), "-m", str(detector), "--features", "labels"
    )
    assert code == 2


def _labels(folder: Path, names: list[str]) -> Path:
    path = folder / "labels.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_draw_writes_annotated_images(photos: Path, tmp_path: Path) -> None:
    from PIL import Image

    single = tmp_path / "out.png"
    code, _, _ = run(
        "annotate", str(photos / "red.jpg"), "--features", "colors,crop", "--draw", str(single)
    )
    assert code == 0
    with Image.open(single) as drawn:
        assert drawn.size == (64, 48)
        bottom = drawn.getpixel((32, 47))
        assert bottom[0] > 200 and bottom[1] < 60  # the dominant-colour strip is red
        # The crop hint (a centred 48x48 square, box 8,0-55,47) is a dashed yellow outline:
        # its left and top edges start with a dash; inside and outside stay the image's red.
        crop = (255, 200, 0)
        assert drawn.getpixel((8, 10))[:3] == crop and drawn.getpixel((15, 0))[:3] == crop
        assert drawn.getpixel((30, 20))[:3] != crop and drawn.getpixel((3, 10))[:3] != crop
    folder = tmp_path / "drawn"
    code, _, _ = run("annotate", str(photos), "--features", "crop", "--draw", str(folder))
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["blue.png", "red.png"]


# Issue 12, item 5: a poison image printed a traceback and nothing for the good images.
def invoke(*args: str) -> tuple[int, str, str, BaseException | None]:
    """Like :func:`run`, also returning the exception the command ended with."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr, result.exception


def poison_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(solid_jpeg((240, 10, 10)))
    (folder / "poison.png").write_bytes(truncated_interlaced_png())
    (folder / "good2.jpg").write_bytes(solid_jpeg((10, 10, 240)))
    return folder


def test_annotate_answers_the_good_images_around_a_poison_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(poison_folder(tmp_path))
    code, out, err, exc = invoke("annotate", "good.jpg", "poison.png", "good2.jpg", "--json")
    assert isinstance(exc, SystemExit) and code == 1, exc
    assert "Traceback" not in out + err
    good, poison, good2 = json_lines(out)
    assert [good["image"], poison["image"], good2["image"]] == [
        "good.jpg",
        "poison.png",
        "good2.jpg",
    ]
    assert good["colors"][0]["simple_name"] == "red" and "error" not in good
    assert good2["colors"][0]["simple_name"] == "blue" and "error" not in good2
    assert poison["error"]["type"] == "ImageDecodeError"
    assert "poison.png" in poison["error"]["message"] and "colors" not in poison
    code, out, err, exc = invoke("annotate", "good.jpg", "poison.png", "--features", "colors")
    assert isinstance(exc, SystemExit) and code == 1, exc
    assert "Traceback" not in out + err
    assert "good.jpg" in out and "poison.png" in out and "error: Image poison.png" in out


def test_classify_answers_the_good_images_around_a_poison_one(
    colour_model_path: Path, tmp_path: Path
) -> None:
    folder = poison_folder(tmp_path)
    code, out, err, exc = invoke("classify", "-m", str(colour_model_path), str(folder), "--json")
    assert isinstance(exc, SystemExit) and code == 1, exc
    assert "Traceback" not in out + err
    lines = {Path(line["image"]).name: line for line in json_lines(out)}
    assert lines["good.jpg"]["labels"][0]["label"] == "red"
    assert lines["good2.jpg"]["labels"][0]["label"] == "blue"
    assert lines["poison.png"]["error"]["type"] == "ImageDecodeError"


def test_an_image_that_cannot_be_drawn_is_one_error_line_and_the_rest_go_on(
    photos: Path, tmp_path: Path
) -> None:
    target = tmp_path / "drawn"
    (target / "red.png").mkdir(parents=True)  # a folder where red.jpg's drawing should go
    code, _, err, exc = invoke(
        "annotate", str(photos), "--features", "colors", "--draw", str(target)
    )
    assert isinstance(exc, SystemExit) and code == 1, exc
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("error: ") and "red.jpg" in line and "cannot draw" in line
    assert (target / "blue.png").is_file()


# Issue 12, item 9 (part): a model declaring a 60000x60000 input got a pydantic traceback.
def test_a_model_declaring_an_oversized_input_is_one_line_and_exit_2(
    photos: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    big = tmp_path / "big.onnx"
    colour_classifier_onnx(big, size=60000)
    for args in (
        ("classify", "--model", str(big), str(photos / "red.jpg")),
        ("models", "inspect", str(big)),
    ):
        code, out, err, exc = invoke(*args)
        assert isinstance(exc, SystemExit) and code == 2, (args, exc)
        assert out == "" and "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert line.startswith("error: Invalid model card: input_size: [60000, 60000]")
        assert "8192" in line
