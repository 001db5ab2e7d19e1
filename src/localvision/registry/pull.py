"""Getting models: ``hf://owner/repo[@revision]/path``, ``https://`` URLs, and a small catalog.

Downloads go to ``<home>/cache/downloads/`` as ``.part`` files and resume with HTTP ranges;
a size limit is enforced from the declared length and while streaming. The SHA-256 of each
URL's first download is recorded (``downloads.json``) and every later download of that URL
must match it (or the ``--sha256`` given). Hugging Face conventions are honoured:
``HF_ENDPOINT`` (another hub or a mirror), ``HF_TOKEN`` (sent as a bearer token), and
``HF_HUB_OFFLINE=1`` (no network at all: a clear error instead).

The catalog lists well-known, permissively licensed classifiers with their cards; its URLs
point at the ONNX Model Zoo and could not be checked from the offline machine this was
written on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, LocalVisionError, ModelError
from ..files import atomic_path, file_lock, sha256_file

__all__ = ["CATALOG", "Download", "PullError", "download", "resolve_source"]

DEFAULT_MAX_BYTES = 2 * 1024**3
_ZOO = "https://github.com/onnx/models/raw/main/validated/vision/classification"
_SYNSET = f"{_ZOO}/synset.txt"
_IMAGENET_ONNX = {
    "input_range": "0..1",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "resize": "center_crop",
}


@dataclass(frozen=True)
class CatalogEntry:
    url: str
    description: str
    license: str
    card: Mapping[str, Any] = field(default_factory=dict)
    labels_url: str | None = None


CATALOG: dict[str, CatalogEntry] = {
    "mobilenet-v2": CatalogEntry(
        f"{_ZOO}/mobilenet/model/mobilenetv2-12.onnx",
        "MobileNet V2 ImageNet classifier (ONNX Model Zoo, opset 12)",
        "Apache-2.0",
        _IMAGENET_ONNX,
        _SYNSET,
    ),
    "squeezenet-1.1": CatalogEntry(
        f"{_ZOO}/squeezenet/model/squeezenet1.1-7.onnx",
        "SqueezeNet 1.1 ImageNet classifier (ONNX Model Zoo)",
        "Apache-2.0",
        _IMAGENET_ONNX,
        _SYNSET,
    ),
    "resnet50-v2": CatalogEntry(
        f"{_ZOO}/resnet/model/resnet50-v2-7.onnx",
        "ResNet-50 v2 ImageNet classifier (ONNX Model Zoo)",
        "Apache-2.0",
        _IMAGENET_ONNX,
        _SYNSET,
    ),
}

_HF = re.compile(r"^hf://(?P<owner>[^/@]+)/(?P<repo>[^/@]+)(?:@(?P<revision>[^/]+))?/(?P<path>.+)$")


class PullError(ModelError):
    """A model could not be downloaded, or what arrived is not what was recorded."""

    code = "pull_failed"


@dataclass(frozen=True)
class Download:
    url: str
    path: Path
    sha256: str
    resumed: bool


def resolve_source(
    ref: str, environ: Mapping[str, str] | None = None
) -> tuple[str, CatalogEntry | None]:
    """The URL to fetch for ``ref`` (catalog name, ``hf://`` reference or https URL)."""
    env = os.environ if environ is None else environ
    if ref in CATALOG:
        return CATALOG[ref].url, CATALOG[ref]
    match = _HF.match(ref)
    if match:
        endpoint = env.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
        revision = match["revision"] or "main"
        return (
            f"{endpoint}/{match['owner']}/{match['repo']}/resolve/{revision}/{match['path']}",
            None,
        )
    if ref.startswith(("https://", "http://")):
        return ref, None
    raise InvalidParameterError(
        f"Cannot pull {ref!r}.",
        hint=f"Use hf://owner/repo[@revision]/path, an https URL, or one of: {', '.join(CATALOG)}.",
    )


def download(
    url: str,
    cache: Path,
    *,
    expected_sha256: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
    on_wait: Callable[[], None] | None = None,
) -> Download:
    """Fetch ``url`` into ``cache/downloads``, resuming a partial file, checking its hash.

    Two downloads of the same URL (two ``models pull`` at once) take turns on a lock beside
    the ``.part`` file; ``on_wait`` is called when this one has to wait for the other.
    """
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise PullError(
            f"Not downloading {url}: HF_HUB_OFFLINE is set.", hint="Unset it to allow downloads."
        )
    folder = cache / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(url.encode()).hexdigest()[:32]
    with file_lock(folder / f"{key}.lock", on_wait=on_wait):
        return _download(url, folder, key, expected_sha256, max_bytes, env, progress, timeout)


def _download(
    url: str,
    folder: Path,
    key: str,
    expected_sha256: str | None,
    max_bytes: int,
    env: Mapping[str, str],
    progress: Callable[[int, int | None], None] | None,
    timeout: float,
) -> Download:
    """:func:`download`'s work, run while holding the URL's lock."""
    part = folder / f"{key}.part"
    index = folder / "downloads.json"
    recorded = _read_index(index).get(url)
    have = part.stat().st_size if part.exists() else 0
    started_with = have
    headers = {"User-Agent": "localvision"}
    if env.get("HF_TOKEN") and "/resolve/" in url:
        headers["Authorization"] = f"Bearer {env['HF_TOKEN']}"
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = response.status == 206
            if not resumed:
                have = 0
            total = _total(response, have)
            if total is not None and total > max_bytes:
                raise PullError(
                    f"{url} is {total:,} bytes; the limit is {max_bytes:,}.",
                    hint="Raise it with --max-bytes if you expect a model this large.",
                )
            with part.open("ab" if resumed else "wb") as fh:
                while chunk := response.read(1024 * 1024):
                    have += len(chunk)
                    if have > max_bytes:
                        raise PullError(f"{url} is larger than the limit of {max_bytes:,} bytes.")
                    fh.write(chunk)
                    if progress is not None:
                        progress(have, total)
    except urllib.error.HTTPError as exc:
        raise PullError(f"Downloading {url} failed: HTTP {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, OSError) as exc:
        if isinstance(exc, LocalVisionError):
            raise
        unreachable = _unreachable(url, exc) if have == started_with else None
        if unreachable is not None:  # nothing arrived: the host itself is out of reach
            raise unreachable from exc
        raise PullError(
            f"Downloading {url} failed: {exc}.", hint="Run the same command again to resume."
        ) from exc
    digest = sha256_file(part)
    wanted = expected_sha256 or recorded
    if wanted and digest != wanted.lower():
        part.unlink(missing_ok=True)
        raise PullError(
            f"{url} has SHA-256 {digest}, but {wanted} was "
            f"{'given' if expected_sha256 else 'recorded at its first download'}.",
            hint="The file changed upstream or was tampered with; check the source.",
        )
    with file_lock(folder / "downloads.json.lock"):  # pulls of other URLs update it too
        entries = _read_index(index)
        entries[url] = digest
        with atomic_path(index) as tmp:
            tmp.write_text(json.dumps(entries, indent=2))
    final = folder / f"{key}{Path(url.split('?')[0]).suffix.lower()}"
    os.replace(part, final)
    return Download(url=url, path=final, sha256=digest, resumed=resumed)


def _unreachable(url: str, exc: BaseException) -> PullError | None:
    """A plain error for a host this machine cannot reach (no network, no DNS, refused, timed
    out), with what to do instead; None for other failures."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if not isinstance(reason, socket.gaierror | ConnectionError | TimeoutError | socket.timeout):
        return None
    host = urllib.parse.urlsplit(url).hostname or url
    return PullError(
        f"Cannot reach {host} to download the model ({reason}). This machine may have no "
        "network, or no route to that host.",
        hint="Register a model file you already have: localvision models add NAME FILE. Or "
        "pull from somewhere you can reach: an https URL on your network, or set HF_ENDPOINT "
        "to a Hugging Face mirror for hf:// references.",
    )


def _total(response: Any, have: int) -> int | None:
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + (have if response.status == 206 else 0)


def _read_index(index: Path) -> dict[str, str]:
    if not index.is_file():
        return {}
    try:
        data = json.loads(index.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
