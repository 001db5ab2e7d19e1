"""What ``deploy render rayservice`` writes, checked by what will read it.

The Dockerfile by hadolint (no ignored rules) and dockerfile-parse; the RayService against a
JSON Schema written from KubeRay's published CRD (``tests/deploy_schemas``), its pod templates,
ConfigMap and Secret strictly against Kubernetes' own schemas (kubernetes-validate), its
``serveConfigV2`` by Ray Serve's own config model. Then what the cluster would do with it: the
pods' init command joins the ConfigMap and the Secret for real, and the application builder
the config names builds the Ray Serve application from the result (no Ray started).
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from localvision.config import RayAutoscaling, RaySettings, ServerSettings, Settings
from localvision.deploy import DeployRequest, ModelSource, render_files
from localvision.deploy.plan import CONFIG_PATH
from localvision.deploy.ray_config import RayConfig, joined

from .test_deploy_render import (
    KUBERNETES_VERSION,
    documents,
    hadolint,
    of,
    schema_check,
    stages,
    validate_kubernetes,
)

KEY_HASH = "sha256:" + "cd" * 32
SIGV4_SECRET = "s3cr3t-sigv4-key"
URI = "s3://models/pets/3/pets.onnx"
SCHEMA = "kuberay_rayservice.schema.json"
ROOT = Path(__file__).resolve().parents[2]


def secure(**ray: Any) -> Settings:
    return Settings(
        server=ServerSettings(api_keys=[KEY_HASH], aws_credentials={"AKIAEXAMPLE": SIGV4_SECRET}),
        features={"labels": "pets"},
        ray=RaySettings(**ray),
    )


def render(out: Path, settings: Settings | None = None, **kwargs: Any) -> Path:
    """Render the rayservice target into ``out``: with credentials unless ``insecure``."""
    kwargs.setdefault("install", "release")
    kwargs.setdefault("models", (ModelSource("pets", uri=URI),))
    if settings is None:
        settings = Settings() if kwargs.get("insecure") else secure()
    render_files(DeployRequest("rayservice", settings=settings, **kwargs), out)
    return out


def ray_objects(out: Path) -> dict[str, dict[str, Any]]:
    return documents(out / "rayservice")


def pod_template(document: dict[str, Any]) -> dict[str, Any]:
    """A RayService pod template as the Kubernetes object kubernetes-validate checks."""
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, **document}


def groups(service: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    cluster = service["spec"]["rayClusterConfig"]
    (worker,) = cluster["workerGroupSpecs"]
    return cluster["headGroupSpec"], worker


def pinned_ray() -> str:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        (pin,) = tomllib.load(fh)["project"]["optional-dependencies"]["ray"]
    return str(pin).split("==", 1)[1]


# -- the image


@pytest.mark.parametrize(
    ("install", "gpu", "bake"),
    [
        pytest.param("release", False, False, id="release-cpu"),
        pytest.param("checkout", False, False, id="checkout-cpu"),
        pytest.param("release", True, False, id="release-gpu"),
        pytest.param("checkout", False, True, id="checkout-baked"),
    ],
)
def test_the_ray_image_passes_hadolint_and_is_rays_own(
    tmp_path: Path, install: str, gpu: bool, bake: bool
) -> None:
    kwargs: dict[str, Any] = {"install": install, "gpu": gpu, "bake": bake}
    if bake:
        model = tmp_path / "pets.onnx"
        model.write_bytes(b"an onnx model's bytes")
        kwargs["models"] = (ModelSource("pets", file=model, format="onnx"),)
    settings = secure(replica_gpus=1) if gpu else secure()
    out = render(tmp_path / "out", settings, **kwargs)
    dockerfile = out / "Dockerfile"
    assert hadolint(dockerfile, tmp_path) == []
    assert "hadolint ignore" not in dockerfile.read_text()
    found = stages(dockerfile)
    final = found[-1]
    version = pinned_ray()
    assert final[0]["image"] == f"rayproject/ray:{version}-py311" + ("-gpu" if gpu else "")
    runs = " ".join(of(final, "RUN"))
    extras = "[aws,fast,ray]" if bake else "[aws,fast,ray,storage]"
    if install == "checkout":
        (builder, _) = found
        assert builder[0]["value"].endswith("AS builder")
        assert any("pip wheel --no-deps" in run for run in of(builder, "RUN"))
        assert "--mount=type=bind,from=builder" in runs
        assert f"localvision-0.1.0-py3-none-any.whl{extras}'" in runs
        assert not any(c.startswith("source/") for c in of(final, "COPY"))
    else:
        assert len(found) == 1
        assert f"'localvision{extras}==0.1.0'" in runs
    assert ("onnxruntime-gpu==" in runs) == gpu
    env = " ".join(of(final, "ENV"))
    assert "LOCALVISION_HOME=/home/ray/.localvision" in env
    assert ("LOCALVISION_PROVIDERS=cuda,cpu" in env) == gpu
    assert of(final, "USER")[-1] == "1000:100"  # Ray's user, by number: runAsNonRoot checks it
    copies = [c for c in of(final, "COPY") if c.startswith("models/")]
    assert copies == (["models/ /opt/localvision/models/"] if bake else [])
    if bake:
        assert (out / "models" / "pets.onnx").is_file()


# -- the RayService, its ConfigMap and its Secret


@pytest.mark.parametrize("autoscaling", [True, False])
def test_the_objects_validate_against_kuberay_and_kubernetes(
    tmp_path: Path, autoscaling: bool
) -> None:
    ray: dict[str, Any] = {"replica_cpus": 2, "max_ongoing_requests": 8}
    if autoscaling:
        ray["autoscaling"] = RayAutoscaling(min_replicas=1, max_replicas=6)
    else:
        ray["num_replicas"] = 3
    out = render(tmp_path / "out", secure(**ray), image="registry.example.com/lv-ray:1")
    objects = ray_objects(out)
    assert set(objects) == {"RayService", "ConfigMap", "Secret"}
    service = objects["RayService"]
    schema_check(service, SCHEMA)
    validate_kubernetes(objects["ConfigMap"])
    validate_kubernetes(objects["Secret"])
    head, worker = groups(service)
    validate_kubernetes(pod_template({"template": head["template"]}))
    validate_kubernetes(pod_template({"template": worker["template"]}))

    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == pinned_ray()
    assert cluster["authOptions"] == {"mode": "token"}
    assert head["rayStartParams"] == {"num-cpus": "0"}  # no replica on the head
    # Worker pods sized from [ray]: 2 CPUs each for one 2-CPU replica, and a core for Ray.
    assert worker["rayStartParams"] == {"num-cpus": "2"}
    (container,) = worker["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"] == "3"
    assert container["resources"]["limits"] == container["resources"]["requests"]
    counts = (worker["replicas"], worker["minReplicas"], worker["maxReplicas"])
    assert counts == ((1, 1, 6) if autoscaling else (3, 3, 3))
    assert cluster["enableInTreeAutoscaling"] is autoscaling
    assert ("autoscalerOptions" in cluster) == autoscaling
    assert service["spec"]["excludeHeadPodFromServeSvc"] is True
    # Every Ray container runs the image, non-root, without privilege escalation.
    for template in (head["template"], worker["template"]):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        for each in [*pod["initContainers"], *pod["containers"]]:
            assert each["image"] == "registry.example.com/lv-ray:1"
            assert each["securityContext"]["allowPrivilegeEscalation"] is False
            assert each["securityContext"]["capabilities"]["drop"] == ["ALL"]
    serve_ports = [
        p["containerPort"]
        for template in (head["template"], worker["template"])
        for p in template["spec"]["containers"][0]["ports"]
        if p["name"] == "serve"
    ]
    assert serve_ports == [8000, 8000]
    assert container["envFrom"][0]["secretRef"] == {"name": "localvision-storage", "optional": True}


def test_serve_config_names_the_builder_and_the_mounted_config(tmp_path: Path) -> None:
    out = render(tmp_path / "out")
    service = ray_objects(out)["RayService"]
    serve = yaml.safe_load(service["spec"]["serveConfigV2"])
    (application,) = serve["applications"]
    assert application["import_path"] == "localvision.scale.ray_serve:build"
    assert application["route_prefix"] == "/"
    assert application["args"] == {"config": CONFIG_PATH}
    assert serve["http_options"]["host"] == "0.0.0.0" and serve["http_options"]["port"] == 8000
    # The file the args name is mounted in every Ray container (the builder may run on any).
    head, worker = groups(service)
    for template in (head["template"], worker["template"]):
        (container,) = template["spec"]["containers"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts[CONFIG_PATH.rsplit("/", 1)[0]]["readOnly"] is True
    # serveConfigV2 is a YAML document written as a literal block, as KubeRay's samples are.
    text = (out / "rayservice" / "rayservice.yaml").read_text()
    assert re.search(r"^  serveConfigV2: \|$", text, re.M)


def test_serve_config_is_valid_for_ray_serve(tmp_path: Path) -> None:
    schema = pytest.importorskip("ray.serve.schema", reason="the ray extra checks serveConfigV2")
    out = render(tmp_path / "out")
    service = ray_objects(out)["RayService"]
    config = schema.ServeDeploySchema.model_validate(
        yaml.safe_load(service["spec"]["serveConfigV2"])
    )
    assert config.applications[0].import_path == "localvision.scale.ray_serve:build"
    assert config.proxy_location.value == "EveryNode"


def test_credentials_stay_in_the_secret(tmp_path: Path) -> None:
    out = render(tmp_path / "out")
    folder = out / "rayservice"
    for name in ("rayservice.yaml", "configmap.yaml"):
        text = (folder / name).read_text()
        assert SIGV4_SECRET not in text and KEY_HASH not in text, name
    secret = folder / "secret.yaml"
    assert SIGV4_SECRET in secret.read_text()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "!rayservice" not in (out / ".dockerignore").read_text().splitlines()
    objects = ray_objects(out)
    credentials = tomllib.loads(objects["Secret"]["stringData"]["credentials.toml"])
    assert credentials["server"]["aws_credentials"] == {"AKIAEXAMPLE": SIGV4_SECRET}
    public = tomllib.loads(objects["ConfigMap"]["data"]["localvision.toml"])
    assert public["models"] == {"pets": {"path": URI}} and "server" not in public
    # The pods mount what was rendered, by name.
    head, _ = groups(objects["RayService"])
    volumes = {v["name"]: v for v in head["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    assert volumes["credentials"]["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]
    assert volumes["localvision-config"]["emptyDir"]["medium"] == "Memory"


def test_a_changed_config_is_a_new_configmap_and_the_same_one_is_not(tmp_path: Path) -> None:
    """Named after their content: an unchanged render keeps the names (no new cluster), a new
    model version gets a new ConfigMap, which KubeRay rolls out as a new cluster."""

    def names(out: Path) -> tuple[str, str]:
        objects = ray_objects(out)
        assert objects["ConfigMap"]["immutable"] is True and objects["Secret"]["immutable"] is True
        return objects["ConfigMap"]["metadata"]["name"], objects["Secret"]["metadata"]["name"]

    first = names(render(tmp_path / "a"))
    assert names(render(tmp_path / "b")) == first
    version_4 = ModelSource("pets", uri=URI.replace("/3/", "/4/"))
    newer = names(render(tmp_path / "c", models=(version_4,)))
    assert newer[0] != first[0] and newer[1] == first[1]
    service = ray_objects(tmp_path / "c")["RayService"]
    assert service["spec"]["upgradeStrategy"] == {"type": "NewCluster"}


def test_insecure_has_no_secret(tmp_path: Path) -> None:
    out = render(tmp_path / "out", insecure=True)
    objects = ray_objects(out)
    assert set(objects) == {"RayService", "ConfigMap"}
    schema_check(objects["RayService"], SCHEMA)
    head, worker = groups(objects["RayService"])
    for group in (head, worker):
        volumes = {v["name"] for v in group["template"]["spec"]["volumes"]}
        assert "credentials" not in volumes
        validate_kubernetes(pod_template({"template": group["template"]}))


def test_scale_to_zero_keeps_the_heads_proxy_in_the_service(tmp_path: Path) -> None:
    """With no worker left, only the head's proxy can take the request that makes Ray Serve
    scale up again, so the head stays behind the Serve service."""
    zero = secure(autoscaling=RayAutoscaling(min_replicas=0, max_replicas=2))
    service = ray_objects(render(tmp_path / "out", zero))["RayService"]
    schema_check(service, SCHEMA)
    assert "excludeHeadPodFromServeSvc" not in service["spec"]
    _, worker = groups(service)
    assert (worker["replicas"], worker["minReplicas"], worker["maxReplicas"]) == (0, 0, 2)
    head, _ = groups(service)
    # The autoscaler runs beside the head and calls the Kubernetes API with its token.
    assert "automountServiceAccountToken" not in head["template"]["spec"]


def test_gpu_workers_ask_for_their_gpus(tmp_path: Path) -> None:
    out = render(tmp_path / "out", secure(replica_gpus=1, num_replicas=2), gpu=True)
    service = ray_objects(out)["RayService"]
    schema_check(service, SCHEMA)
    _, worker = groups(service)
    validate_kubernetes(pod_template({"template": worker["template"]}))
    assert worker["groupName"] == "gpu"
    assert worker["rayStartParams"] == {"num-cpus": "1", "num-gpus": "1"}
    limits = worker["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert (worker["minReplicas"], worker["maxReplicas"]) == (2, 2)


def test_the_schema_is_real(tmp_path: Path) -> None:
    import jsonschema

    out = render(tmp_path / "out")
    service = ray_objects(out)["RayService"]
    _, worker = groups(service)
    worker["rayStartParams"]["labels"] = "zone=a"  # KubeRay wants the group's labels field
    with pytest.raises(jsonschema.ValidationError):
        schema_check(service, SCHEMA)
    del worker["rayStartParams"]["labels"]
    schema_check(service, SCHEMA)
    service["spec"]["rayClusterConfig"]["headGroupSpec"]["replicas"] = 1  # not a head field
    with pytest.raises(jsonschema.ValidationError):
        schema_check(service, SCHEMA)
    del service["spec"]["rayClusterConfig"]["headGroupSpec"]["replicas"]
    service["metadata"]["name"] = "a" * 48  # KubeRay's limit is 47
    with pytest.raises(jsonschema.ValidationError):
        schema_check(service, SCHEMA)


def test_kubernetes_validation_of_the_pod_templates_is_real(tmp_path: Path) -> None:
    import kubernetes_validate

    out = render(tmp_path / "out")
    _, worker = groups(ray_objects(out)["RayService"])
    worker["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_kubernetes(pod_template({"template": worker["template"]}))
    assert KUBERNETES_VERSION


# -- what the pods do with it


def run_init(command: str, config_dir: Path, parts: Path) -> subprocess.CompletedProcess[str]:
    """Run a pod's init command with its absolute paths moved under the test's folders and the
    interpreter that has localvision installed as ``python``."""
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX shell to run the init container's command with")
    local = command.replace("/var/run/localvision", str(parts)).replace(
        CONFIG_PATH.rsplit("/", 1)[0], str(config_dir)
    )
    bin_dir = parts / "bin"
    bin_dir.mkdir(exist_ok=True)
    python = bin_dir / "python"  # a wrapper, not a link: a venv's python finds its venv by path
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        [shell, "-c", local],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=120,
    )


def mount_parts(objects: dict[str, dict[str, Any]], parts: Path) -> None:
    """Put the ConfigMap's and the Secret's files where the init container mounts them."""
    (parts / "config").mkdir(parents=True)
    for name, text in objects["ConfigMap"]["data"].items():
        (parts / "config" / name).write_text(text)
    if "Secret" in objects:
        (parts / "credentials").mkdir()
        for name, text in objects["Secret"]["stringData"].items():
            (parts / "credentials" / name).write_text(text)


def test_the_pods_join_the_config_and_the_builder_serves_it(tmp_path: Path) -> None:
    serve = pytest.importorskip("ray.serve", reason="the ray extra builds the application")
    ray = {"replica_cpus": 0.5, "autoscaling": RayAutoscaling(min_replicas=1, max_replicas=8)}
    out = render(tmp_path / "out", secure(**ray))
    objects = ray_objects(out)
    head, worker = groups(objects["RayService"])
    (init,) = head["template"]["spec"]["initContainers"]
    assert worker["template"]["spec"]["initContainers"] == [init]
    assert init["command"][:2] == ["/bin/sh", "-c"]

    parts, config_dir = tmp_path / "parts", tmp_path / "etc"
    config_dir.mkdir()
    mount_parts(objects, parts)
    done = run_init(init["command"][2], config_dir, parts)
    assert done.returncode == 0, done.stderr
    written = (config_dir / "localvision.toml").read_text()
    expected = RayConfig(
        public=objects["ConfigMap"]["data"]["localvision.toml"],
        credentials=objects["Secret"]["stringData"]["credentials.toml"],
    )
    assert written == joined(expected)

    # Ray Serve's way: import the builder the config names, call it with the args.
    application = yaml.safe_load(objects["RayService"]["spec"]["serveConfigV2"])["applications"][0]
    module, _, name = application["import_path"].partition(":")
    builder = getattr(importlib.import_module(module), name)
    args = {**application["args"], "config": str(config_dir / "localvision.toml")}
    app = builder(args)
    assert isinstance(app, serve.Application)
    deployment = app._bound_deployment  # Ray keeps the deployment here; no public accessor
    (settings,) = deployment.init_args
    assert settings.server.api_keys == [KEY_HASH]  # the Secret's part reached the replicas
    assert settings.server.aws_credentials == {"AKIAEXAMPLE": SIGV4_SECRET}
    assert settings.models["pets"].path == URI and settings.features == {"labels": "pets"}
    # What a replica reserves fits the worker pod, as many times as the pod was sized for.
    reserved = deployment.ray_actor_options["num_cpus"]
    per_pod = int(worker["rayStartParams"]["num-cpus"]) / reserved
    assert per_pod == 2
    scaling = deployment._deployment_config.autoscaling_config
    assert scaling.max_replicas <= worker["maxReplicas"] * per_pod
    assert scaling.min_replicas <= worker["minReplicas"] * per_pod


def test_a_config_that_does_not_load_stops_the_init_container(tmp_path: Path) -> None:
    out = render(tmp_path / "out")
    objects = ray_objects(out)
    head, _ = groups(objects["RayService"])
    (init,) = head["template"]["spec"]["initContainers"]
    objects["Secret"]["stringData"]["credentials.toml"] = '[server]\nport = "eighty"\n'
    parts, config_dir = tmp_path / "parts", tmp_path / "etc"
    config_dir.mkdir()
    mount_parts(objects, parts)
    done = run_init(init["command"][2], config_dir, parts)
    assert done.returncode != 0
    assert "server.port" in done.stderr


def test_the_cli_renders_rayservice(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from localvision.cli.app import app

    config = tmp_path / "localvision.toml"
    config.write_text(
        f'[server]\napi_keys = ["{KEY_HASH}"]\n\n[server.aws_credentials]\n'
        f'AKIAEXAMPLE = "{SIGV4_SECRET}"\n\n[ray]\nreplica_cpus = 2\n'
    )
    out = tmp_path / "deploy"
    args = [
        "deploy", "render", "rayservice",
        "--model", f"pets={URI}",
        "--config", str(config),
        "--install", "release",
        "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"LOCALVISION_HOME": str(tmp_path / "home")})
    assert result.exit_code == 0, result.stderr
    assert "rayservice/rayservice.yaml" in result.stdout
    assert "rayservice/secret.yaml" in result.stdout
    service = ray_objects(out)["RayService"]
    _, worker = groups(service)
    assert worker["rayStartParams"] == {"num-cpus": "2"}
