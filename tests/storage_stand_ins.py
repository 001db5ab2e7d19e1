"""Real object stores on 127.0.0.1 for the storage tests: moto's S3 server, the GCS emulator
and Azurite, each started once per session on a free port.

Each fixture yields a :class:`StandIn`: the URI root of a bucket (container) that exists, and
``env``, the environment variables that point the vendor's own credential and endpoint chain at
the stand-in (what a user sets for MinIO, an emulator or Azurite). Pass ``env`` as the storage
functions' ``environ``, or to a subprocess. Tests share the bucket, so each writes under a
folder of its own (:meth:`StandIn.folder`).

What the stand-ins cannot do: moto accepts any credentials until IAM checks are switched on
(:func:`moto_checks_credentials`); the GCS emulator and Azurite (in its default mode) check
none. Azurite comes from npm (``.ci/run`` installs it under ``.ci/node``); its fixture skips,
saying so, when it is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# gcsfs picks its experimental zonal/HNS file system at import unless this is false, and that
# one asks Google's storage-control API about every bucket, which no emulator answers.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "lv-test"
START_TIMEOUT_S = 120.0
"""How long a stand-in may take to start on a busy machine (it is polled, not slept for)."""

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (  # Azurite's documented, public development key
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class StandIn:
    """A running stand-in: its bucket's URI root, endpoint, and the environment for it."""

    scheme: str
    root: str
    endpoint: str
    env: dict[str, str]

    def folder(self, name: str = "t") -> str:
        """A fresh folder URI under the root, for one test."""
        return f"{self.root}/{name}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_endpoint() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"


def _wait_until(
    check: object, what: str, process: subprocess.Popen[bytes] | None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        if process is not None and process.poll() is not None:
            said = log.read_text(errors="replace")[-2000:] if log is not None else ""
            raise RuntimeError(
                f"{what} exited with status {process.returncode} while starting: {said}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {START_TIMEOUT_S:g} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ------------------------------------------------------------------------------------ S3


@pytest.fixture(scope="session")
def s3_stand_in() -> Iterator[StandIn]:
    """moto's threaded S3 server with bucket ``lv-test``."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev extra")
    boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "lv-test-key",
        "AWS_SECRET_ACCESS_KEY": "lv-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=BUCKET)
    try:
        yield StandIn("s3", f"s3://{BUCKET}", endpoint, env)
    finally:
        server.stop()


@contextlib.contextmanager
def moto_checks_credentials(stand_in: StandIn) -> Iterator[None]:
    """While inside, moto checks every request's credentials as S3 does (an unknown access
    key is refused with InvalidAccessKeyId); outside, it accepts any. This is moto's own
    server-mode switch (``/moto-api/reset-auth``); it holds for the whole server, so the
    tests that use it run alone (tests here run one at a time)."""

    def reset(count: str) -> None:
        request = urllib.request.Request(
            f"{stand_in.endpoint}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form body would be parsed away
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    reset("0")
    try:
        yield
    finally:
        reset("inf")


# ----------------------------------------------------------------------------------- GCS


@pytest.fixture(scope="session")
def gcs_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """gcp-storage-emulator (in memory) with bucket ``lv-test``, in a subprocess, its
    multipart uploads made byte-exact (``tests/gcs_emulator.py`` says why)."""
    pytest.importorskip("gcp_storage_emulator", reason="gcp-storage-emulator is a dev extra")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("gcs-emulator") / "emulator.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("gcs_emulator.py")),
            "start",
            "--host=127.0.0.1",
            f"--port={port}",
            "--in-memory",
            f"--default-bucket={BUCKET}",
            "--quiet",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        with urllib.request.urlopen(f"{endpoint}/storage/v1/b/{BUCKET}", timeout=5) as reply:
            return int(reply.status) == 200

    try:
        _wait_until(answers, "the GCS emulator", process, log_path)
        env = {
            "STORAGE_EMULATOR_HOST": endpoint,
            "GOOGLE_CLOUD_PROJECT": "lv-test",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }
        yield StandIn("gs", f"gs://{BUCKET}", endpoint, env)
    finally:
        _stop(process)
        log.close()


# --------------------------------------------------------------------------------- Azure


def azurite_binary() -> str | None:
    """``$LOCALVISION_AZURITE``, the copy ``.ci/run`` installs, or one on PATH."""
    configured = os.environ.get("LOCALVISION_AZURITE")
    if configured:
        return configured if Path(configured).is_file() else None
    installed = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "azurite-blob"
    if installed.is_file():
        return str(installed)
    return shutil.which("azurite-blob")


def azurite_connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


@pytest.fixture(scope="session")
def azure_blob_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """Azurite's blob service (in memory) with container ``lv-test``."""
    binary = azurite_binary()
    if binary is None:
        pytest.skip(
            "Azurite is not installed: run 'npm install --prefix .ci/node azurite@3.35.0' "
            "(as .ci/run does) or set LOCALVISION_AZURITE to the azurite-blob binary"
        )
    blob = pytest.importorskip("azure.storage.blob", reason="the storage extra brings Azure's SDK")
    work = tmp_path_factory.mktemp("azurite")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (work / "azurite.log").open("wb")  # Azurite keeps nothing on disk: in memory
    process = subprocess.Popen(
        [
            binary,
            "--skipApiVersionCheck",
            "--inMemoryPersistence",
            "--silent",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
        ],
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    connection = azurite_connection_string(endpoint)

    def answers() -> bool:
        service = blob.BlobServiceClient.from_connection_string(connection, retry_total=0)
        service.create_container(BUCKET)
        return True

    try:
        _wait_until(answers, "Azurite", process, work / "azurite.log")
        env = {"AZURE_STORAGE_CONNECTION_STRING": connection}
        yield StandIn("az", f"az://{BUCKET}", endpoint, env)
    finally:
        _stop(process)
        log.close()


@pytest.fixture(scope="session")
def file_stand_in(tmp_path_factory: pytest.TempPathFactory) -> StandIn:
    """A folder as a store (``file://``), for the tests that run on every scheme."""
    folder = tmp_path_factory.mktemp("file-store")
    return StandIn("file", f"file://{folder}", "", {})


def put_object(stand_in: StandIn, uri: str, data: bytes) -> None:
    """Write ``data`` at ``uri`` with the vendor's own client (as a stranger would: to tamper
    with what localvision wrote, or to prepare inputs)."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    if stand_in.scheme == "s3":
        import boto3

        boto3.client(
            "s3",
            endpoint_url=stand_in.env["AWS_ENDPOINT_URL_S3"],
            region_name="us-east-1",
            aws_access_key_id=stand_in.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=stand_in.env["AWS_SECRET_ACCESS_KEY"],
        ).put_object(Bucket=bucket, Key=key, Body=data)
    elif stand_in.scheme == "gs":
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(
            project="lv-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": stand_in.endpoint},
        )
        client.bucket(bucket).blob(key).upload_from_string(data)
    elif stand_in.scheme == "az":
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(
            stand_in.env["AZURE_STORAGE_CONNECTION_STRING"]
        )
        service.get_blob_client(bucket, key).upload_blob(data, overwrite=True)
    elif stand_in.scheme == "file":
        path = Path(uri.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        raise ValueError(f"no stand-in for {stand_in.scheme}")


__all__ = [
    "BUCKET",
    "StandIn",
    "azure_blob_stand_in",
    "azurite_binary",
    "closed_endpoint",
    "file_stand_in",
    "free_port",
    "gcs_stand_in",
    "moto_checks_credentials",
    "put_object",
    "s3_stand_in",
]
