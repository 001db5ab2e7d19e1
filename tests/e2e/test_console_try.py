"""The console's *Try* page in a real browser, against a real server with the fixture models:
face boxes drawn on a group photo, the cat's top label, each protocol's JSON and snippets, a
file that is no image, and the page used from the keyboard."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from localvision.config import ModelConfig, Settings

from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import new_context, shot, try_image

pytestmark = pytest.mark.fixtures
SIDES = ("x", "y", "width", "height")


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The ONNX MobileNet V2 answering labels; faces, colours and crop hints built in."""
    pytest.importorskip("cv2", reason="face detection needs the faces extra (OpenCV)")
    settings = Settings(
        home=tmp_path_factory.mktemp("console-try"),
        models={
            "mobilenet": ModelConfig(
                path=str(models_dir / "mobilenetv2-12-int8.onnx"),
                labels=str(models_dir / "imagenet_labels_1000.txt"),
            )
        },
        features={"labels": "mobilenet"},
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def context(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = new_context(browser, server)
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    yield page
    page.close()


def test_face_boxes_are_drawn_over_the_photo(
    page: Any, photos_dir: Path, screenshots: Path
) -> None:
    assert try_image(page, photos_dir / "face.jpg", ["faces"]) == "drawn"
    boxes = page.locator("#overlay rect.face")
    listed = page.locator("#faces li")
    assert boxes.count() >= 2 and boxes.count() == listed.count()
    assert page.locator("#overlay").get_attribute("viewBox") == "0 0 512 355"
    for index in range(boxes.count()):  # every box is a real region inside the photo
        box = {k: float(boxes.nth(index).get_attribute(k) or "nan") for k in SIDES}
        assert box["width"] > 10 and box["height"] > 10
        assert box["x"] >= 0 and box["x"] + box["width"] <= 512
        assert box["y"] >= 0 and box["y"] + box["height"] <= 355
    drawn = page.locator("#overlay rect.face").first.bounding_box()
    stage = page.locator("#preview").bounding_box()
    assert drawn is not None and stage is not None  # drawn on screen, over the preview
    assert stage["x"] <= drawn["x"] and drawn["x"] + drawn["width"] <= stage["x"] + stage["width"]
    assert f"{boxes.count()} faces" in (page.locator("#overlay").get_attribute("aria-label") or "")
    shot(page, screenshots, "console-try-faces")


def test_the_cat_gets_its_top_label_and_every_protocol_shows_its_json(
    page: Any, photos_dir: Path, screenshots: Path
) -> None:
    assert try_image(page, photos_dir / "cat.bmp", ["labels", "colors"]) == "drawn"
    assert page.locator("#labels li .name").first.inner_text() == "Egyptian cat"
    assert page.locator("#colors li .chip").count() > 0
    assert '"label": "Egyptian cat"' in page.locator("#raw").inner_text()
    assert "/v1/annotate" in page.locator("#curl").inner_text()
    page.get_by_label("Google Cloud Vision").check()
    raw = page.locator("#raw").inner_text()
    assert '"labelAnnotations"' in raw and "Egyptian cat" in raw
    assert "LABEL_DETECTION" in page.locator("#curl").inner_text()
    assert "vision.ImageAnnotatorClient" in page.locator("#python").inner_text()
    page.get_by_label("AWS Rekognition").check()
    assert "InvalidImageFormatException" in page.locator("#raw").inner_text()  # BMP: no
    assert "RekognitionService.DetectLabels" in page.locator("#curl").inner_text()
    assert "mobilenet" in page.locator("#answered-by").inner_text()
    shot(page, screenshots, "console-try-cat")


def test_a_file_that_is_not_an_image_is_refused_in_plain_words(
    page: Any, screenshots: Path
) -> None:
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"shopping list: eggs"}
    assert try_image(page, notes, ["labels"]) == "failed"
    error = page.locator("#error")
    assert error.is_visible()
    assert "notes.txt is not a recognisable image" in error.inner_text()
    assert "JPEG, PNG" in error.inner_text()  # what it accepts
    assert page.locator("#stage").is_hidden()
    shot(page, screenshots, "console-try-not-an-image")


def test_the_form_has_labels_and_works_from_the_keyboard(page: Any, photos_dir: Path) -> None:
    page.goto("/console/try")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map((e) => e.outerHTML)"""
    )
    assert unlabelled == []
    page.set_input_files("#image", photos_dir / "cat.bmp")
    for _ in range(40):  # Tab through the form to the button, then press Enter
        if page.evaluate("document.activeElement.id") == "run":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "run"
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-state=drawn], body[data-state=failed]")
    assert page.locator("#labels li .name").first.inner_text() == "Egyptian cat"


def test_the_server_page_shows_the_model_and_the_traffic(
    page: Any, photos_dir: Path, screenshots: Path
) -> None:
    assert try_image(page, photos_dir / "cat.bmp", ["labels"]) == "drawn"
    page.goto("/console/server")
    assert page.locator("#ready").inner_text() == "yes"
    assert "mobilenet" in page.locator("#loaded").inner_text()
    labels_row = page.locator("#images tr", has_text="labels")
    assert int(labels_row.locator("td").nth(1).inner_text()) >= 1
    assert page.locator("#latency tr", has_text="try_post").count() == 1
    page.goto("/console/models")
    assert page.locator("#answering tr", has_text="labels").locator("td").nth(1).inner_text() == (
        "mobilenet"
    )
    shot(page, screenshots, "console-server")


def test_the_snippets_reproduce_the_call(page: Any, photos_dir: Path, tmp_path: Path) -> None:
    """The Python snippet of each protocol, as the page shows it, run against the server."""
    pytest.importorskip("google.cloud.vision", reason="the Google snippet uses google-cloud-vision")
    pytest.importorskip("boto3", reason="the Rekognition snippet uses boto3")
    cat = tmp_path / "cat.jpg"  # Rekognition takes PNG or JPEG only
    Image.open(photos_dir / "cat.bmp").convert("RGB").save(cat, quality=95)
    assert try_image(page, cat, ["labels"]) == "drawn"
    for protocol, found in (
        ("localvision", "'label': 'Egyptian cat'"),
        ("Google Cloud Vision", 'description: "Egyptian cat"'),
        ("AWS Rekognition", "'Name': 'Egyptian cat'"),
    ):
        page.get_by_label(protocol).check()
        assert "Egyptian cat" in page.locator("#raw").inner_text()
        script = page.locator("#python").inner_text()
        run = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
        )
        assert run.returncode == 0, run.stderr
        assert found in run.stdout, run.stdout
        if protocol == "localvision" and shutil.which("curl") and shutil.which("base64"):
            curl = page.locator("#curl").inner_text()
            shell = subprocess.run(
                ["bash", "-c", curl],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=CLIENT_TIMEOUT_S,
            )
            assert '"label":"Egyptian cat"' in shell.stdout, shell.stderr
