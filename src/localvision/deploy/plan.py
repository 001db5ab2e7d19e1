"""The deployment plan: what the container runs and what goes into its image.

``localvision deploy render`` turns a :class:`~.request.DeployRequest` into a :class:`Plan`
here, once, before any file is written (after :mod:`.checks` has refused what would not work);
each target's module then only lays the plan out in its platform's files: the models' places
in the container, the image's extras (:mod:`.extras`), the server's command line, how the image
installs localvision, and the container layout every target shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import InvalidParameterError
from ..server.uvicorn_config import DRAIN_S
from ..types import Feature
from .checks import URI_SCHEME, check_request, is_uri
from .extras import FEATURE_EXTRAS, FORMAT_EXTRAS, check_extra, format_of_suffix, settings_extras
from .request import DeployRequest, ModelSource

__all__ = [
    "APP_DIR",
    "CONFIG_PATH",
    "DRAIN_S",
    "GRACE_S",
    "HOME_DIR",
    "LAMBDA_ROOT",
    "PRESTOP_S",
    "Install",
    "Plan",
    "PlannedModel",
    "credential_env",
    "make_plan",
]

APP_DIR = "/opt/localvision"
"""In the server image: the virtual environment (``venv/``) and baked models (``models/``)."""
HOME_DIR = "/var/lib/localvision"
"""In the server image: ``LOCALVISION_HOME`` (the model cache, converted models, registry)."""
CONFIG_PATH = "/etc/localvision/localvision.toml"
"""Where the platform mounts the config holding the credentials (``LOCALVISION_CONFIG``)."""
LAMBDA_ROOT = "/var/task"
"""``LAMBDA_TASK_ROOT`` of the AWS Lambda Python base image: the code, models and config."""

PRESTOP_S = 5
"""Kubernetes: how long a terminating pod keeps serving before it is sent SIGTERM, while the
endpoint controllers and proxies stop sending it new requests (they learn of it late)."""
GRACE_S = PRESTOP_S + DRAIN_S + 15
"""How long a platform waits after asking the server to stop before it kills it: the pre-stop
pause, the server's drain limit (``DRAIN_S``: requests in flight finish, then are answered
503), and time to stop gRPC and release the models. Killing sooner would cut requests off
without an answer."""

_STORE_ENV: dict[str, tuple[str, ...]] = {
    "s3": (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_S3",
    ),
    "gs": ("STORAGE_EMULATOR_HOST",),
    "az": ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"),
    "abfs": ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"),
}
"""The variables each store's own credential chain reads that a container can be handed as
they are (a key file path, as GOOGLE_APPLICATION_CREDENTIALS holds, would need the file too)."""


@dataclass(frozen=True)
class Install:
    """How the image installs localvision: a wheel built from ``source`` in the builder
    stage, or the released ``version`` from the package index when ``source`` is None."""

    version: str
    source: Path | None = None


@dataclass(frozen=True)
class PlannedModel:
    """A model as the container sees it: ``location`` is what ``--model NAME=`` gets."""

    source: ModelSource
    location: str
    baked_file: str | None = None
    """The model file's name under the image's models folder, when baked."""
    baked_card: str | None = None
    """Its card's file name beside it, when there is a card to copy."""

    @property
    def name(self) -> str:
        return self.source.name


@dataclass(frozen=True)
class Plan:
    """Everything the target modules need, decided and checked."""

    request: DeployRequest
    models: tuple[PlannedModel, ...]
    extras: tuple[str, ...]
    image: str
    install: Install
    models_dir: str
    notes: tuple[str, ...] = ()
    """What the user should know about choices made for them (printed, and in comments)."""

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def uses_config(self) -> bool:
        """True when the platform must provide the config file (it holds the credentials)."""
        return self.request.config_file is not None

    @property
    def ports(self) -> dict[str, int]:
        """The ports the container listens on, by name: ``http`` (and ``grpc``)."""
        ports = {"http": self.request.port}
        grpc = self.request.settings.server.grpc_port
        if grpc is not None:
            ports["grpc"] = grpc
        return ports

    def serve_args(self, *, locations: Mapping[str, str] | None = None) -> list[str]:
        """``localvision serve`` arguments (after the program name) for this plan.

        ``locations`` replaces where named models are read from (KServe's mount point).
        """
        request = self.request
        args = ["serve", "--host", request.host, "--port", str(request.port)]
        for model in self.models:
            where = (locations or {}).get(model.name, model.location)
            args += ["--model", f"{model.name}={where}"]
        if request.insecure:
            args.append("--insecure")
        return args

    def extras_spec(self) -> str:
        """``[a,b]`` for ``pip install 'localvision[a,b]'``, or ``""`` when none."""
        return f"[{','.join(self.extras)}]" if self.extras else ""


def make_plan(request: DeployRequest) -> Plan:
    """Check ``request`` and decide the plan; raises the first refusal with its reason."""
    check_request(request)
    models_dir = f"{LAMBDA_ROOT}/models" if request.target == "lambda" else f"{APP_DIR}/models"
    planned = tuple(_place(model, request.bake, models_dir) for model in request.models)
    extras, notes = _extras(request)
    return Plan(
        request=request,
        models=planned,
        extras=extras,
        image=request.image or _default_image(request),
        install=_install(request.install),
        models_dir=models_dir,
        notes=tuple(notes),
    )


def _place(model: ModelSource, bake: bool, models_dir: str) -> PlannedModel:
    if not bake:
        assert model.uri is not None
        return PlannedModel(source=model, location=model.uri)
    assert model.file is not None
    file = f"{model.name}{model.file.suffix}"
    card = f"{model.name}.card.toml" if model.card is not None else None
    return PlannedModel(
        source=model, location=f"{models_dir}/{file}", baked_file=file, baked_card=card
    )


def _extras(request: DeployRequest) -> tuple[tuple[str, ...], list[str]]:
    wanted: set[str] = {"fast"}  # every image serves: uvloop's event loop, httptools' parser
    notes: list[str] = []
    settings = request.settings
    given = {model.name for model in request.models}
    served = [(model.name, model.format, model.origin) for model in request.models] + [
        (name, None, model.path) for name, model in settings.models.items() if name not in given
    ]
    for name, known, origin in served:
        if is_uri(origin):
            wanted.add("storage")  # fetched from its URI when the server starts
        format_name = known or format_of_suffix(origin)
        if format_name is None:
            notes.append(
                f"The format of model {name!r} is not known from {origin}; the image runs ONNX "
                "models. Add --extra litert (.tflite), --extra keras or --extra torch if it is "
                "another format."
            )
            continue
        extra = FORMAT_EXTRAS.get(format_name)
        if extra is not None:
            wanted.add(extra)
    for text in request.features:
        try:
            feature = Feature.parse(text)
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        if feature in FEATURE_EXTRAS:
            wanted.add(FEATURE_EXTRAS[feature])
    wanted |= settings_extras(settings)
    wanted |= {check_extra(extra) for extra in request.extras}
    if request.target == "lambda":
        wanted.add("lambda")
    if request.target == "rayservice":
        wanted.add("ray")
        if "grpc" in wanted:  # the replicas open no gRPC port (localvision serve --ray)
            wanted.discard("grpc")
            notes.append(
                "Google's gRPC API stays on the plain server: the RayService answers HTTP only, "
                "so server.grpc_port is not used there."
            )
    return tuple(sorted(wanted)), notes


def _default_image(request: DeployRequest) -> str:
    suffix = "-gpu" if request.gpu else ""
    kind = {"lambda": "-lambda", "rayservice": "-ray"}.get(request.target, "")
    return f"localvision{kind}:{__version__}{suffix}"


def source_checkout() -> Path | None:
    """The source tree localvision runs from, when it runs from a checkout (else None)."""
    package = Path(__file__).resolve().parents[1]
    root = package.parents[1]
    pyproject = root / "pyproject.toml"
    if package.parent.name != "src" or not pyproject.is_file():
        return None
    if 'name = "localvision"' not in pyproject.read_text(encoding="utf-8"):
        return None
    return root


def _install(kind: str) -> Install:
    if kind == "release":
        return Install(version=__version__)
    checkout = source_checkout()
    if checkout is None and kind == "checkout":
        raise InvalidParameterError(
            "--install checkout builds localvision from its source tree, but this "
            "localvision is not running from a checkout.",
            hint="Use --install release to install the published package.",
        )
    return Install(version=__version__, source=checkout)


def credential_env(plan: Plan) -> list[str]:
    """The storage credential variables the container should be given, for the stores its
    models come from (each vendor's own chain reads them; none for baked models)."""
    uris = [m.location for m in plan.models if m.baked_file is None]
    uris += [m.path for m in plan.request.settings.models.values()]
    names: list[str] = []
    for uri in uris:
        match = URI_SCHEME.match(uri)
        for name in _STORE_ENV.get(match.group(1).lower(), ()) if match else ():
            if name not in names:
                names.append(name)
    return names
