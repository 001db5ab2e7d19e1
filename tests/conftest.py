"""Shared test fixtures: the shared model/photo fixtures, an isolated data home, tiny models."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from localvision.config import ServerSettings, Settings

from .builders import COLOUR_LABELS, colour_classifier_onnx
from .storage_stand_ins import (  # noqa: F401  (the object-store stand-ins, session-wide)
    azure_blob_stand_in,
    file_stand_in,
    gcs_stand_in,
    s3_stand_in,
)

if TYPE_CHECKING:
    from .ray_cluster import RayCluster
    from .servers import LiveServer

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = Path(
    os.environ.get("LOCALVISION_TEST_FIXTURES", ROOT.parent / "shared" / "fixtures")
)


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point LOCALVISION_HOME at a temporary folder so tests never touch ~/.localvision."""
    home = tmp_path_factory.mktemp("home")
    previous = os.environ.get("LOCALVISION_HOME")
    os.environ["LOCALVISION_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("LOCALVISION_HOME", None)
    else:
        os.environ["LOCALVISION_HOME"] = previous


@pytest.fixture(scope="session")
def settings(isolated_home: Path) -> Settings:
    return Settings(home=isolated_home)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures``: real models and photos; tests needing it skip when absent."""
    if not (SHARED_FIXTURES / "models").is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES} (real models and photos)")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def models_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "models"


@pytest.fixture(scope="session")
def photos_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / "photos"


@pytest.fixture(scope="session")
def colour_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real ONNX classifier: mean colour of a 16x16 input -> red/green/blue/gray."""
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    folder = tmp_path_factory.mktemp("colour")
    path = folder / "colours.onnx"
    colour_classifier_onnx(path)
    (folder / "colours.card.toml").write_text(
        'input_range = "0..1"\nlabels = ' + repr(list(COLOUR_LABELS)).replace("'", '"') + "\n"
    )
    return path


WAIT_S = 30.0
"""How long a test waits for something to happen: generous, since it waits on a condition."""


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (a state, not a time), failing after :data:`WAIT_S`."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def join_all(threads: Iterable[threading.Thread]) -> None:
    """Join each thread, failing if one is still blocked after :data:`WAIT_S` (a hang)."""
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive(), f"{thread.name} never returned"


def solid_jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """Encoded JPEG bytes of one flat colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def colour_settings(model: Path, home: Path, server: ServerSettings | None = None) -> Settings:
    """Settings serving the tiny colour model (``model``) as ``colours``, answering labels."""
    from localvision.config import ModelConfig

    return Settings(
        home=home,
        models={"colours": ModelConfig(path=str(model))},
        features={"labels": "colours"},
        server=server or ServerSettings(),
    )


@pytest.fixture(scope="session")
def colour_server(colour_model_path: Path, isolated_home: Path) -> Iterator[LiveServer]:
    """A real server on a free loopback port answering labels with the tiny colour model."""
    from .servers import live_server

    with live_server(colour_settings(colour_model_path, isolated_home)) as server:
        yield server


@pytest.fixture(scope="session")
def mobilenet_server(models_dir: Path, isolated_home: Path) -> Iterator[LiveServer]:
    """A real server answering labels with the MobileNet V2 TFLite fixture (and its ONNX twin)."""
    pytest.importorskip("ai_edge_litert", reason="the litert extra runs .tflite models")
    from localvision.config import ModelConfig

    from .servers import live_server

    settings = Settings(
        home=isolated_home,
        models={
            "mobilenet": ModelConfig(path=str(models_dir / "mobilenet_v2_1.0_224_quant.tflite")),
            "mobilenet-onnx": ModelConfig(
                path=str(models_dir / "mobilenetv2-12-int8.onnx"),
                labels=str(models_dir / "imagenet_labels_1000.txt"),
            ),
        },
        features={"labels": "mobilenet"},
    )
    with live_server(settings) as server:
        yield server


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One local Ray (2 CPUs, Serve's proxy on 127.0.0.1) for every test marked ``ray``."""
    pytest.importorskip("ray", reason="the ray extra runs batch and serve on Ray")
    from .ray_cluster import local_ray

    with local_ray() as cluster:
        yield cluster
