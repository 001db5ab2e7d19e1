"""``localvision batch``: rows, resuming, and the same rows in-process and on Ray Data.

The tests without the ``ray`` marker run the in-process path only; those with it share the
session's local Ray (tests/ray_cluster.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localvision.cli.app import app
from localvision.config import Settings
from localvision.errors import LocalVisionError, ModelError
from localvision.scale import BatchJob, BatchOutput, list_inputs, run_batch
from localvision.types import Feature, FeatureRequest

from ..conftest import solid_jpeg
from ..ray_cluster import RayCluster, free_port
from ..storage_stand_ins import StandIn, closed_endpoint, put_object

COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230)}
LABELS_AND_COLOURS = (FeatureRequest(Feature.LABELS, max_results=2), FeatureRequest(Feature.COLORS))


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Nine solid-colour JPEGs (three of each colour) and one corrupt file, in a folder."""
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        for name, rgb in COLOURS.items():
            (folder / f"{name}-{index}.jpg").write_bytes(solid_jpeg(rgb))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all")
    return folder


def colour_job(colour_model_path: Path, settings: Settings) -> BatchJob:
    return BatchJob(LABELS_AND_COLOURS, settings, {Feature.LABELS: str(colour_model_path)})


def rows_by_path(output: BatchOutput) -> dict[str, dict[str, object]]:
    rows = list(output.rows())
    by_path = {str(row["path"]): row for row in rows}
    assert len(by_path) == len(rows), "a path was written twice"
    return by_path


def top_label(row: dict[str, object]) -> str:
    return str(json.loads(str(row["labels"]))[0]["label"])


def test_one_row_per_image_with_an_error_row_for_the_corrupt_one(
    images: Path, colour_model_path: Path, settings: Settings, tmp_path: Path
) -> None:
    output = BatchOutput(tmp_path / "out", [Feature.LABELS, Feature.COLORS])
    items = list_inputs([str(images)])
    summary = run_batch(colour_job(colour_model_path, settings), items, output)
    rows = rows_by_path(output)
    assert summary.written == len(rows) == 10 and summary.failed == 1
    for path, row in rows.items():
        name = Path(path).name
        if name == "corrupt.jpg":
            assert row["error_type"] == "ImageDecodeError"
            assert row["error_code"] == "image_decode_failed"
            assert "corrupt.jpg" in str(row["error_message"])
            assert row["labels"] is None and row["width"] is None
            assert row["size"] == (images / name).stat().st_size
            continue
        assert row["error_type"] is None and row["error_message"] is None
        assert top_label(row) == name.split("-")[0]
        assert (row["width"], row["height"]) == (64, 48)
        assert row["size"] == (images / name).stat().st_size
        assert json.loads(str(row["colors"]))["colors"]  # the dominant colours are there


def test_json_lines_hold_the_rows_parquet_holds(
    images: Path, colour_model_path: Path, settings: Settings, tmp_path: Path
) -> None:
    items = list_inputs([str(images)])
    job = colour_job(colour_model_path, settings)
    parquet = BatchOutput(tmp_path / "parquet", job.feature_list, "parquet")
    jsonl = BatchOutput(tmp_path / "jsonl", job.feature_list, "jsonl")
    run_batch(job, items, parquet)
    run_batch(job, items, jsonl)
    assert rows_by_path(parquet) == rows_by_path(jsonl)
    line = json.loads((jsonl.parts()[0]).read_text().splitlines()[1])
    assert isinstance(line["labels"], list)  # JSON Lines nest the feature values themselves


def test_an_interrupted_run_resumes_without_losing_or_repeating_a_row(
    images: Path, colour_model_path: Path, settings: Settings, tmp_path: Path
) -> None:
    items = list_inputs([str(images)])
    job = colour_job(colour_model_path, settings)
    output = BatchOutput(tmp_path / "out", job.feature_list)
    seen: list[object] = []

    def interrupt_after_four(row: dict[str, object]) -> None:
        seen.append(row["path"])
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(job, items, output, on_row=interrupt_after_four)
    assert set(rows_by_path(output)) == set(seen)  # what was answered was kept
    summary = run_batch(job, items, output)
    assert (summary.skipped, summary.written) == (4, len(items) - 4)
    assert sorted(rows_by_path(output)) == sorted(items)
    again = run_batch(job, items, output)
    assert (again.skipped, again.written) == (len(items), 0)


def test_failed_images_are_tried_again_when_asked_or_when_the_failure_may_pass(
    images: Path,
    colour_model_path: Path,
    settings: Settings,
    tmp_path: Path,
    s3_stand_in: StandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = colour_job(colour_model_path, settings)
    output = BatchOutput(tmp_path / "out", job.feature_list, "jsonl")
    remote = f"{s3_stand_in.folder('retry')}/blue.jpg"
    put_object(s3_stand_in, remote, solid_jpeg(COLOURS["blue"]))
    items = [*list_inputs([str(images)]), remote]
    for key, value in s3_stand_in.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", closed_endpoint())  # the store is away
    first = run_batch(job, items, output)
    codes = {Path(p).name: r["error_code"] for p, r in rows_by_path(output).items()}
    assert first.failed == 2
    assert (codes["corrupt.jpg"], codes["blue.jpg"]) == (
        "image_decode_failed",
        "storage_unavailable",
    )

    # The store is back: a rerun tries the image it could not read, and only that one.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_stand_in.env["AWS_ENDPOINT_URL_S3"])
    (images / "corrupt.jpg").write_bytes(solid_jpeg(COLOURS["green"]))  # mended meanwhile
    second = run_batch(job, items, output)
    assert (second.written, second.skipped) == (1, len(items) - 1)
    rows = rows_by_path(output)  # still one row per input
    assert top_label(rows[remote]) == "blue"
    assert rows[str(images / "corrupt.jpg")]["error_code"] == "image_decode_failed"

    # --retry-failed: every image whose row holds an error is annotated again.
    third = run_batch(job, items, output, retry_failed=True)
    assert (third.written, third.failed) == (1, 0)
    assert top_label(rows_by_path(output)[str(images / "corrupt.jpg")]) == "green"
    assert len(list(output.rows())) == len(items)


def test_an_output_of_another_job_is_refused(
    images: Path, colour_model_path: Path, settings: Settings, tmp_path: Path
) -> None:
    items = list_inputs([str(images)])
    run_batch(
        colour_job(colour_model_path, settings),
        items,
        BatchOutput(tmp_path / "out", [Feature.LABELS, Feature.COLORS]),
    )
    other = BatchJob((FeatureRequest(Feature.COLORS),), settings)
    with pytest.raises(LocalVisionError, match="holds rows of another job"):
        run_batch(other, items, BatchOutput(tmp_path / "out", [Feature.COLORS]))


def test_list_files_globs_and_missing_files(images: Path) -> None:
    listing = images / "some.txt"
    listing.write_text(
        "# two images and one that is not there\nred-0.jpg\n\nblue-1.jpg\ngone.jpg\n"
    )
    found = list_inputs([str(listing), str(images / "green-*.jpg"), str(images / "red-0.jpg")])
    assert [Path(p).name for p in found] == [
        "red-0.jpg",
        "blue-1.jpg",
        "gone.jpg",
        "green-0.jpg",
        "green-1.jpg",
        "green-2.jpg",
    ]
    assert all(Path(p).is_absolute() for p in found)


def test_a_storage_prefix_is_listed_and_its_objects_read_through_the_storage_layer(
    images: Path, colour_model_path: Path, settings: Settings, tmp_path: Path
) -> None:
    (images / ".hidden").mkdir()
    (images / ".hidden" / "skipped.jpg").write_bytes(solid_jpeg((1, 2, 3)))
    (images / "notes.txt").write_text("not an image")
    prefix = f"file://{images}/"
    items = list_inputs([prefix])
    assert items == sorted(items) and len(items) == 10
    assert all(item.startswith(prefix) for item in items)
    missing = f"file://{images}/gone.jpg"  # an object that is not there: its own error row
    output = BatchOutput(tmp_path / "out", [Feature.LABELS, Feature.COLORS])
    summary = run_batch(colour_job(colour_model_path, settings), [*items, missing], output)
    rows = rows_by_path(output)
    assert summary.written == 11 and summary.failed == 2
    assert rows[missing]["error_code"] == "storage_not_found"
    assert rows[f"{prefix}corrupt.jpg"]["error_code"] == "image_decode_failed"
    red = rows[f"{prefix}red-1.jpg"]
    assert top_label(red) == "red" and red["size"] == (images / "red-1.jpg").stat().st_size


def test_an_s3_prefix_is_annotated_with_the_environments_credentials(
    s3_stand_in: StandIn,
    colour_model_path: Path,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = s3_stand_in.folder("batch")
    for name, rgb in COLOURS.items():
        put_object(s3_stand_in, f"{folder}/in/{name}.jpg", solid_jpeg(rgb))
    put_object(s3_stand_in, f"{folder}/in/deeper/corrupt.jpg", b"\xff\xd8 not a jpeg")
    put_object(s3_stand_in, f"{folder}/in/readme.txt", b"not an image")
    put_object(s3_stand_in, f"{folder}/inbox/red.jpg", solid_jpeg(COLOURS["red"]))  # not in/
    items = list_inputs([f"{folder}/in/"], environ=s3_stand_in.env)
    assert items == [
        f"{folder}/in/{name}" for name in ("blue.jpg", "deeper/corrupt.jpg", "green.jpg", "red.jpg")
    ]
    for key, value in s3_stand_in.env.items():  # the actors' (here: this process's) credentials
        monkeypatch.setenv(key, value)
    output = BatchOutput(tmp_path / "out", [Feature.LABELS, Feature.COLORS])
    run_batch(colour_job(colour_model_path, settings), [*items, f"{folder}/in/gone.jpg"], output)
    rows = rows_by_path(output)
    assert {Path(p).name: r["error_code"] for p, r in rows.items() if r["error_code"]} == {
        "corrupt.jpg": "image_decode_failed",
        "gone.jpg": "storage_not_found",
    }
    assert top_label(rows[f"{folder}/in/green.jpg"]) == "green"
    assert rows[f"{folder}/in/green.jpg"]["size"] == len(solid_jpeg(COLOURS["green"]))


def test_the_command_writes_rows_and_fails_on_a_model_that_does_not_load(
    images: Path, colour_model_path: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    done = runner.invoke(
        app,
        [
            "batch",
            str(images),
            "-f",
            "labels",
            "-m",
            str(colour_model_path),
            "-o",
            str(out),
            "--json",
        ],
    )
    assert done.exit_code == 1, done.output  # one image failed
    assert json.loads(done.stdout.strip().splitlines()[-1])["written"] == 10
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    failed = runner.invoke(
        app, ["batch", str(images), "-m", str(broken), "-o", str(tmp_path / "never")]
    )
    assert failed.exit_code == 2
    assert failed.stderr.startswith("error: ") and len(failed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "never").exists()  # nothing started


# --- on Ray -------------------------------------------------------------------------------


@pytest.mark.ray
def test_ray_gives_the_rows_in_process_gives_bad_inputs_included(
    ray_cluster: RayCluster,
    images: Path,
    colour_model_path: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    listing = images / "all.txt"
    names = sorted(p.name for p in images.glob("*.jpg"))
    objects = [f"file://{images}/{names[0]}", f"file://{images}/gone-object.jpg"]
    listing.write_text("\n".join([*names, "gone.jpg", *objects]))
    items = list_inputs([str(listing)])
    job = colour_job(colour_model_path, settings)
    here = BatchOutput(tmp_path / "here", job.feature_list)
    there = BatchOutput(tmp_path / "there", job.feature_list)
    run_batch(job, items, here)
    summary = run_batch(job, items, there, ray="")
    assert summary.written == len(items) == 13 and summary.failed == 3
    assert rows_by_path(there) == rows_by_path(here)
    errors = {
        Path(p).name: r["error_code"] for p, r in rows_by_path(there).items() if r["error_code"]
    }
    assert errors == {
        "corrupt.jpg": "image_decode_failed",
        "gone.jpg": "image_not_found",
        "gone-object.jpg": "storage_not_found",
    }


@pytest.mark.ray
def test_ray_gives_the_rows_in_process_gives_on_the_fixture_photos(
    ray_cluster: RayCluster, photos_dir: Path, models_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    model = models_dir / "mobilenetv2-12-int8.onnx"
    job = BatchJob(
        (FeatureRequest(Feature.LABELS, max_results=3),),
        settings,
        {Feature.LABELS: str(model)},
        labels=str(models_dir / "imagenet_labels_1000.txt"),
    )
    items = list_inputs([str(photos_dir)])
    here = BatchOutput(tmp_path / "here", job.feature_list)
    there = BatchOutput(tmp_path / "there", job.feature_list)
    run_batch(job, items, here)
    run_batch(job, items, there, ray="")
    rows = rows_by_path(there)
    assert rows == rows_by_path(here) and len(rows) == len(items) >= 10
    assert top_label(rows[str(photos_dir / "cat.bmp")]) == "Egyptian cat"


@pytest.mark.ray
def test_a_run_interrupted_here_resumes_on_ray(
    ray_cluster: RayCluster,
    images: Path,
    colour_model_path: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    items = list_inputs([str(images)])
    job = colour_job(colour_model_path, settings)
    output = BatchOutput(tmp_path / "out", job.feature_list)
    count = 0

    def interrupt_after_three(row: object) -> None:
        nonlocal count
        count += 1
        if count == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(job, items, output, on_row=interrupt_after_three)
    summary = run_batch(job, items, output, ray="")
    assert (summary.skipped, summary.written) == (3, len(items) - 3)
    assert sorted(rows_by_path(output)) == sorted(items)


@pytest.mark.ray
def test_a_model_that_does_not_load_on_the_workers_stops_the_job_before_it_starts(
    ray_cluster: RayCluster, images: Path, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 not an onnx graph")
    job = BatchJob(LABELS_AND_COLOURS, settings, {Feature.LABELS: str(broken)})
    output = BatchOutput(tmp_path / "out", job.feature_list)
    with pytest.raises(ModelError) as raised:
        run_batch(job, list_inputs([str(images)]), output, ray="")
    assert "broken.onnx" in raised.value.message
    assert output.parts() == []


def test_an_unreachable_ray_address_is_one_line_and_exit_2(images: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the ray extra runs batch on Ray")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    for command in (
        ["batch", str(images), "-f", "colors", "-o", str(tmp_path / "out"), "--ray", address],
        ["serve", "--ray", f"ray://{address}"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "localvision", *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: Cannot reach the Ray cluster at")


def _dying_annotate() -> type:
    """An actor class that kills its own process on its first batch (once per output
    folder), as a node lost mid-batch would. Defined in a function: it subclasses a class of
    the ray extra, which the tests without Ray must not import."""
    from localvision.scale.ray_data import Annotate

    class DyingAnnotate(Annotate):
        def __init__(self, job: BatchJob, output: BatchOutput) -> None:
            super().__init__(job, output)
            self.marker = output.folder.parent / "an-actor-died"

        def __call__(self, batch: object) -> object:
            if not self.marker.exists():
                self.marker.touch()
                os._exit(1)  # the actor's process dies with the batch half done
            return super().__call__(batch)

    return DyingAnnotate


@pytest.mark.ray
def test_an_actor_dying_mid_batch_loses_and_repeats_no_row(
    ray_cluster: RayCluster,
    images: Path,
    colour_model_path: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    from localvision.scale.ray_data import run_on_ray

    items = list_inputs([str(images)])
    job = colour_job(colour_model_path, settings)
    output = BatchOutput(tmp_path / "out", job.feature_list)
    output.prepare()
    summary = run_on_ray(job, items, output, annotate=_dying_annotate())
    assert (tmp_path / "an-actor-died").exists()
    assert summary.written == len(items)
    assert sorted(rows_by_path(output)) == sorted(items)
