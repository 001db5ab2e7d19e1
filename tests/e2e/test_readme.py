"""The README's client snippet, run as a newcomer would: the official clients, no AWS or Google
configuration on the machine, pointed at a real server on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import ROOT, solid_jpeg
from ..servers import LiveServer

README = ROOT / "README.md"


def client_snippet() -> str:
    """The README's first Python block that calls both the Google and the AWS client."""
    for block in re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        if "boto3" in block and "google.cloud" in block:
            return str(block)
    raise AssertionError("the README has no client snippet")


def test_the_client_snippet_runs_as_written(
    colour_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("boto3", reason="the snippet uses boto3 (dev extra)")
    pytest.importorskip("google.cloud.vision", reason="the snippet uses google-cloud-vision")
    for name in [
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_REKOGNITION",
    ]:  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata service
    (tmp_path / "cat.jpg").write_bytes(solid_jpeg((240, 10, 10)))
    monkeypatch.chdir(tmp_path)
    code = client_snippet().replace("http://127.0.0.1:8080", colour_server.url)
    assert colour_server.url in code
    # The snippet's last expression is the Rekognition call: keep its answer to check it.
    head, _, call = code.rpartition("boto3.client(")
    namespace: dict[str, object] = {}
    exec(head + "answer = boto3.client(" + call, namespace)
    answer = namespace["answer"]
    assert isinstance(answer, dict) and answer["Labels"][0]["Name"] == "red"
