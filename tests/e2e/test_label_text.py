"""One label text everywhere: a label with synonyms ("tabby, tabby cat") reads the same in the
CLI's lines, its JSON and the Python API (the server's protocols use the API's results)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

import localvision
from localvision.cli.app import app

from ..conftest import solid_jpeg

LABELS = ["red, crimson", "green, verdant", "blue, azure", "gray, grey"]


def test_a_label_with_synonyms_reads_the_same_everywhere(
    colour_model_path: Path, tmp_path: Path
) -> None:
    model = tmp_path / "synonyms.onnx"
    shutil.copyfile(colour_model_path, model)
    (tmp_path / "synonyms.card.toml").write_text(
        'input_range = "0..1"\nlabels = ' + json.dumps(LABELS) + "\n"
    )
    image = tmp_path / "red.jpg"
    image.write_bytes(solid_jpeg((240, 10, 10)))
    runner = CliRunner()
    shown = runner.invoke(app, ["classify", "--model", str(model), str(image)])
    assert shown.exit_code == 0, shown.stderr
    assert "red, crimson" in shown.stdout
    as_json = runner.invoke(app, ["classify", "--model", str(model), str(image), "--json"])
    first = json.loads(as_json.stdout.splitlines()[0])["labels"][0]["label"]
    ((api_label, _), *_) = localvision.load_model(model).classify([image])[0]
    assert first == api_label == "red, crimson"
