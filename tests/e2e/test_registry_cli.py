"""The registry, training and evaluation from the command line, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from localvision.cli.app import app

from ..integration.test_training import CLASSES, shape_image

pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-shapes")
    rng = np.random.default_rng(5)
    for part, count in (("train", 24), ("holdout", 9)):
        for kind in CLASSES:
            (root / part / kind).mkdir(parents=True)
            for i in range(count):
                shape_image(kind, rng).save(root / part / kind / f"{i}.jpg")
    return root


def run(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"LOCALVISION_HOME": str(home)})
    return result.exit_code, result.stdout, result.stderr


def test_add_train_eval_promote_rollback_export(
    models_dir: Path, data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn", reason="the train extra fits heads with scikit-learn")
    home = tmp_path / "home"
    code, out, _ = run(
        home,
        "models",
        "add",
        "mobilenet",
        str(models_dir / "mobilenetv2-12-int8.onnx"),
        "--labels",
        str(models_dir / "imagenet_labels_1000.txt"),
        "--json",
    )
    assert code == 0 and json.loads(out)["ref"] == "mobilenet@1"
    code, out, _ = run(
        home, "train", str(data / "train"), "--base", "mobilenet", "--name", "shapes", "--json"
    )
    assert code == 0 and json.loads(out)["model"] == "shapes@1"
    code, out, _ = run(
        home,
        "eval",
        "shapes",
        str(data / "holdout"),
        "--json",
        "--report",
        str(tmp_path / "eval.html"),
    )
    report = json.loads(out)
    assert code == 0 and report["accuracy"] >= 0.9 and (tmp_path / "eval.html").is_file()
    code, _, _ = run(
        home,
        "models",
        "promote",
        "shapes@1",
        "--gate",
        "accuracy >= production - 0.01",
        "--on",
        str(data / "holdout"),
    )
    assert code == 0
    # The ImageNet backbone knows no shapes: the gate refuses it, with the numbers.
    code, _, err = run(
        home,
        "models",
        "promote",
        "mobilenet@1",
        "--gate",
        "accuracy >= 0.5",
        "--on",
        str(data / "holdout"),
    )
    assert code == 2 and "refused to promote mobilenet@1" in err and "0.5000" in err
    code, _, _ = run(
        home,
        "train",
        str(data / "train"),
        "--base",
        "mobilenet",
        "--name",
        "shapes",
        "--head",
        "mlp",
    )
    assert code == 0
    assert run(home, "models", "promote", "shapes@2")[0] == 0
    code, out, _ = run(home, "models", "rollback", "shapes")
    assert code == 0 and "shapes@1" in out
    code, out, _ = run(home, "models", "list", "--json")
    listed = {(e["name"], e["version"]): e["aliases"] for e in json.loads(out)}
    assert listed[("shapes", 1)] == ["production"] and listed[("shapes", 2)] == []
    code, _, _ = run(home, "models", "export", "shapes", str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "shapes.onnx").is_file()
    code, out, _ = run(
        home,
        "classify",
        "-m",
        str(tmp_path / "out" / "shapes.onnx"),
        str(data / "holdout" / "circles" / "0.jpg"),
        "--json",
    )
    assert code == 0 and json.loads(out)["labels"][0]["label"] == "circles"  # the card came along


def test_registry_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "models", "show", "ghost")
    assert code == 2 and "No registered model named 'ghost'" in err
    code, _, err = run(tmp_path, "models", "add", "bad name!", str(tmp_path))
    assert code == 2 and "not a valid model name" in err
    code, _, err = run(tmp_path, "train", str(tmp_path), "--base", "ghost", "--name", "x")
    assert code == 2


def test_pull_registers_a_model_from_a_hub(colour_model_path: Path, tmp_path: Path) -> None:
    import threading
    from http.server import ThreadingHTTPServer

    from ..integration.test_pull import Hub

    Hub.files = {"/org/colours/resolve/main/colours.onnx": colour_model_path.read_bytes()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\ngray\n")
    try:
        result = runner.invoke(
            app,
            ["models", "pull", "hf://org/colours/colours.onnx", "--labels", str(labels), "--json"],
            env={
                "LOCALVISION_HOME": str(tmp_path / "home"),
                "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            },
        )
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.stderr
    entry = json.loads(result.stdout)
    assert (
        entry["ref"] == "colours@1"
        and entry["lineage"]["source"] == "hf://org/colours/colours.onnx"
    )
    assert entry["card"]["labels"] == ["red", "green", "blue", "gray"]


def test_finetune_from_the_command_line_reports_each_epoch(data: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the torch extra fine-tunes models")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()
    torch.jit.save(torch.jit.trace(net, torch.rand(2, 3, 32, 32)), str(tmp_path / "net.pt"))
    home = tmp_path / "home"
    code, _, err = run(
        home, "models", "add", "net", str(tmp_path / "net.pt"), "--set", "input_size=32"
    )
    assert code == 0, err
    code, out, err = run(
        home,
        "train",
        str(data / "train"),
        "--base",
        "net",
        "--name",
        "mine",
        "--method",
        "finetune",
        "--epochs",
        "2",
        "--json",
    )
    assert code == 0, err
    assert "epoch 1/2: loss" in err and "epoch 2/2: loss" in err  # progress per epoch
    summary = json.loads(out)
    assert summary["model"] == "mine@1" and summary["epochs_run"] == 2
    code, out, _ = run(home, "models", "show", "mine", "--json")
    assert json.loads(out)["lineage"]["method"] == "finetune"
    code, _, err = run(
        home,
        "train",
        str(data / "train"),
        "--base",
        "net",
        "--name",
        "x",
        "--method",
        "finetune",
        "--head",
        "mlp",
    )
    assert code == 2 and "apply to --method head only" in err
