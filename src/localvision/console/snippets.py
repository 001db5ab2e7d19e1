"""``curl`` and Python snippets that reproduce a *Try* call in each protocol.

The snippets name the caller's credentials by environment variable (``$LOCALVISION_API_KEY``,
or AWS's own variables for a server with SigV4 credentials), never by value: the console does
not know the key (it keeps only its hash) and a snippet is meant to be copied around. Images go
into JSON bodies through ``base64`` on a pipe, not a shell argument, so a 12 MP photo does not
hit the shell's argument length limit.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ..types import Feature
from ..wire.google_vision.features import TYPE_FOR_FEATURE
from .wire_answers import AWS_OPERATIONS

__all__ = ["Access", "snippets"]

KEY_VARIABLE = "LOCALVISION_API_KEY"


@dataclass(frozen=True)
class Access:
    """How a client reaches this server: its base URL (ending in ``/``), whether it wants an
    API key, and whether its AWS route wants SigV4 (and for which region)."""

    base_url: str
    api_key: bool
    sigv4: bool
    region: str

    @property
    def endpoint(self) -> str:
        """The base URL without its final ``/``, as client libraries want an endpoint."""
        return self.base_url.rstrip("/")


def snippets(
    access: Access, filename: str, features: Sequence[Feature]
) -> dict[str, dict[str, str]]:
    """``{protocol: {"curl": ..., "python": ...}}`` for one image file and ``features``."""
    return {
        "native": _native(access, filename, features),
        "google": _google(access, filename, features),
        "aws": _aws(access, filename, features),
    }


def _native(access: Access, filename: str, features: Sequence[Feature]) -> dict[str, str]:
    names = ",".join(f.value for f in features)
    url = access.base_url + "v1/annotate"
    key = f' -H "x-goog-api-key: ${KEY_VARIABLE}"' if access.api_key else ""
    curl = (
        f"curl -s{key} -F {shlex.quote('image=@' + filename)} -F features={names} "
        f"{shlex.quote(url)}"
    )
    headers = (
        f', headers={{"x-goog-api-key": os.environ["{KEY_VARIABLE}"]}}' if access.api_key else ""
    )
    python = (
        ("import os\n\n" if access.api_key else "") + "import httpx\n\n"
        f"with open({filename!r}, 'rb') as image:\n"
        f"    response = httpx.post(\n        {url!r},\n"
        f"        files={{'image': image}},\n        data={{'features': {names!r}}}{headers},\n"
        "        timeout=60,\n    )\n"
        "print(response.json())\n"
    )
    return {"curl": curl, "python": python}


def _google(access: Access, filename: str, features: Sequence[Feature]) -> dict[str, str]:
    types = [TYPE_FOR_FEATURE[f] for f in features if f in TYPE_FOR_FEATURE]
    wanted = json.dumps([{"type": t} for t in types], separators=(",", ":"))
    url = access.base_url + "v1/images:annotate"
    key = f' -H "x-goog-api-key: ${KEY_VARIABLE}"' if access.api_key else ""
    head = shlex.quote('{"requests":[{"image":{"content":"')
    tail = shlex.quote('"},"features":' + wanted + "}]}")
    curl = (
        f"{{ printf %s {head}; base64 -w0 {shlex.quote(filename)}; printf %s {tail}; }} |\n"
        f'  curl -s -H "Content-Type: application/json"{key} --data-binary @- '
        f"{shlex.quote(url)}"
    )
    if access.api_key:
        client = (
            f"    client_options={{'api_endpoint': {access.endpoint!r}, "
            f"'api_key': os.environ['{KEY_VARIABLE}']}},\n"
        )
    else:
        client = (
            f"    client_options={{'api_endpoint': {access.endpoint!r}}},\n"
            "    credentials=AnonymousCredentials(),\n"
        )
    listed = ", ".join(f"{{'type_': vision.Feature.Type.{t}}}" for t in types)
    if access.api_key:
        imports = "import os\n\n"
    else:
        imports = "from google.auth.credentials import AnonymousCredentials\n"
    python = (
        imports + "from google.cloud import vision\n\n"
        "client = vision.ImageAnnotatorClient(\n    transport='rest',\n"
        f"{client})\n"
        f"with open({filename!r}, 'rb') as image:\n"
        "    content = image.read()\n"
        "response = client.annotate_image(\n"
        f"    {{'image': {{'content': content}}, 'features': [{listed}]}}\n)\n"
        "print(response)\n"
    )
    return {"curl": curl, "python": python}


def _aws(access: Access, filename: str, features: Sequence[Feature]) -> dict[str, str]:
    operations = list(dict.fromkeys(AWS_OPERATIONS[f] for f in features if f in AWS_OPERATIONS))
    if not operations:
        missing = "# Rekognition has no operation for " + ", ".join(f.value for f in features)
        return {"curl": missing, "python": missing}
    if access.sigv4:
        auth = (
            f' --aws-sigv4 "aws:amz:{access.region}:rekognition"'
            ' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"'
        )
        credentials = ""
    elif access.api_key:
        auth = f' -H "x-goog-api-key: ${KEY_VARIABLE}"'
        credentials = (
            f"    aws_access_key_id=os.environ['{KEY_VARIABLE}'],\n"
            "    aws_secret_access_key='not-used',\n"
        )
    else:
        auth = ""
        credentials = "    aws_access_key_id='none',\n    aws_secret_access_key='none',\n"
    head = shlex.quote('{"Image":{"Bytes":"')
    tail = shlex.quote('"}}')
    curls = [
        f"{{ printf %s {head}; base64 -w0 {shlex.quote(filename)}; printf %s {tail}; }} |\n"
        f"  curl -s{auth} -H 'X-Amz-Target: RekognitionService.{operation}' "
        f"-H 'Content-Type: application/x-amz-json-1.1' --data-binary @- "
        f"{shlex.quote(access.base_url)}"
        for operation in operations
    ]
    calls = "".join(
        f"print(client.{_snake(operation)}(Image={{'Bytes': content}}))\n"
        for operation in operations
    )
    python = (
        ("import os\n\n" if "os.environ" in credentials else "") + "import boto3\n\n"
        "client = boto3.client(\n    'rekognition',\n"
        f"    endpoint_url={access.endpoint!r},\n    region_name={access.region!r},\n"
        f"{credentials})\n"
        f"with open({filename!r}, 'rb') as image:\n    content = image.read()\n"
        f"{calls}"
    )
    return {"curl": "\n\n".join(curls), "python": python}


def _snake(operation: str) -> str:
    """``DetectFaces`` -> ``detect_faces`` (boto3's method names)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
