"""The deployment artefacts agree with the code: commands, settings, routes, shutdown timing.

Static checks only (no Docker engine or cluster needed): Dockerfile, deploy/docker-compose.yml
and the plain manifests in deploy/k8s/.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from canonry.service.auth import parse_api_keys
from canonry.service.cli import build_parser
from canonry.service.config import SETTINGS
from canonry.service.engine import SHUTDOWN_GRACE
from canonry.service.routes import METRICS_PATH, ROUTES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
GET_PATHS = {route.path for route in ROUTES if route.method == "GET"}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _exec_form(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT arguments: JSON (exec form) or, failing that, shell words."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return shlex.split(arguments)
    assert isinstance(parsed, list), arguments
    return [str(part) for part in parsed]


def _dockerfile_cmd() -> list[str]:
    commands = [_exec_form(rest) for keyword, rest in _instructions() if keyword == "CMD"]
    assert commands, "Dockerfile has no CMD"
    return commands[-1]


def _k8s() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in _documents(path)]


def _k8s_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _k8s() if doc.get("kind") == kind]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _compose() -> dict[str, Any]:
    return _documents(DEPLOY / "docker-compose.yml")[0]


def _as_list(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _canonry_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) for every `canonry …` invocation in the Dockerfile, compose and k8s."""
    yield "Dockerfile CMD", _dockerfile_cmd()
    for name, service in _compose()["services"].items():
        if "command" in service:
            yield f"compose {name}", _as_list(service["command"])
        elif "build" in service:  # built from our Dockerfile: runs its CMD
            yield f"compose {name}", _dockerfile_cmd()
    for workload in _k8s():
        if workload.get("kind") not in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
            continue
        for container in _pod_spec(workload)["containers"]:
            argv = [*container.get("command", []), *container.get("args", [])]
            where = f"k8s {workload['kind']} {workload['metadata']['name']}/{container['name']}"
            yield where, argv or _dockerfile_cmd()


COMMANDS = [(where, argv) for where, argv in _canonry_commands() if argv[:1] == ["canonry"]]


def test_every_artefact_runs_canonry() -> None:
    # Catches a renamed entry point: nothing below would be checked if none said `canonry`.
    wheres = {where for where, _ in COMMANDS}
    assert "Dockerfile CMD" in wheres
    assert {"compose migrate", "compose api", "compose worker"} <= wheres
    assert sum(where.startswith("k8s ") for where in wheres) == 3


@pytest.mark.parametrize("yaml_file", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(yaml_file: Path) -> None:
    assert _documents(yaml_file), f"{yaml_file} is empty"


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_command_is_a_canonry_subcommand(where: str, argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports unknown commands and options by exiting
        pytest.fail(f"{where}: `{shlex.join(argv)}` is not accepted by the canonry CLI "
                    f"(exit {exc.code})", pytrace=False)


def test_only_known_settings_are_set() -> None:
    known = {setting.env for setting in SETTINGS}
    files = [DOCKERFILE, *(path for path in DEPLOY.rglob("*") if path.is_file())]
    used = {(name, str(path.relative_to(ROOT))) for path in files
            for name in re.findall(r"\bCANONRY_[A-Z0-9_]+", path.read_text())}
    assert used
    unknown = sorted(pair for pair in used if pair[0] not in known)
    assert not unknown, f"not in service.config.SETTINGS: {unknown}"


# --- Dockerfile --------------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    instructions = _instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert keywords.count("FROM") >= 2
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    healthchecks = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert healthchecks and healthchecks[-1].upper() != "NONE"
    paths = set(re.findall(r"/[a-z]+z\b", healthchecks[-1]))
    assert paths == {"/healthz"} and paths <= GET_PATHS
    assert "curl" not in healthchecks[-1] and "wget" not in healthchecks[-1]
    assert ("EXPOSE", "8080") in instructions
    assert _dockerfile_cmd() == ["canonry", "serve", "--host", "0.0.0.0"]


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert ".venv" in ignored and ".git" in ignored
    for keyword, rest in _instructions():
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _destination = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


# --- docker compose ----------------------------------------------------------------------------

def test_compose_topology() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("api", "worker"):
        # Never start on an unmigrated database.
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
    assert services["worker"]["deploy"]["replicas"] == 3
    for name in ("migrate", "api", "worker"):
        environment = services[name]["environment"]
        assert environment["CANONRY_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["CANONRY_REDIS_URL"].startswith("redis://")


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_compose_worker_may_finish_in_flight_work() -> None:
    # Compose's default is 10 s before SIGKILL.
    assert _seconds(_compose()["services"]["worker"]["stop_grace_period"]) > SHUTDOWN_GRACE


# --- Kubernetes --------------------------------------------------------------------------------

def test_k8s_has_every_manifest() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in _k8s()}
    assert {kind for kind, _ in kinds} >= {"ConfigMap", "Secret", "Deployment", "Service",
                                           "HorizontalPodAutoscaler", "Job"}
    assert ("Deployment", "canonry-api") in kinds and ("Deployment", "canonry-worker") in kinds


def test_k8s_probes_hit_app_routes() -> None:
    for deployment in _k8s_kind("Deployment"):
        for container in _pod_spec(deployment)["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe in container and "httpGet" in container[probe]:
                    path = container[probe]["httpGet"]["path"]
                    assert path in GET_PATHS, f"{deployment['metadata']['name']} {probe} {path}"
    (api,) = [d for d in _k8s_kind("Deployment") if d["metadata"]["name"] == "canonry-api"]
    (container,) = _pod_spec(api)["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_k8s_workloads_are_configured_and_bounded() -> None:
    defined = {(doc["kind"], doc["metadata"]["name"]) for doc in _k8s()}
    for workload in [*_k8s_kind("Deployment"), *_k8s_kind("Job")]:
        spec = _pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["limits"]["memory"]
            for source in container["envFrom"]:  # only references that the manifests create
                ref = source.get("configMapRef") or source["secretRef"]
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                assert (kind, ref["name"]) in defined


def test_k8s_secret_holds_the_database_url() -> None:
    (secret,) = _k8s_kind("Secret")
    assert secret["stringData"]["CANONRY_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_the_api_gets_its_keys_from_the_secret() -> None:
    (secret,) = _k8s_kind("Secret")
    keys = parse_api_keys(secret["stringData"]["CANONRY_API_KEYS"])  # a placeholder that parses
    assert {scope for key in keys for scope in key.scopes} >= {"ingest", "read"}
    (api,) = [d for d in _k8s_kind("Deployment") if d["metadata"]["name"] == "canonry-api"]
    (container,) = _pod_spec(api)["containers"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in container["envFrom"]
    for settings in (_k8s_kind("ConfigMap")[0]["data"], *(
            c.get("environment", {}) for c in _compose()["services"].values())):
        assert "CANONRY_ALLOW_OPEN" not in settings  # no deploy file runs open


def test_compose_requires_keys_and_publishes_on_loopback_only() -> None:
    compose = _compose()
    api = compose["services"]["api"]
    keys = api["environment"]["CANONRY_API_KEYS"]
    assert keys.startswith("${CANONRY_API_KEYS:?")  # compose refuses to start without them
    assert all(str(port).startswith("127.0.0.1:") for port in api["ports"])


def test_k8s_worker_may_finish_in_flight_work() -> None:
    (worker,) = [d for d in _k8s_kind("Deployment") if d["metadata"]["name"] == "canonry-worker"]
    assert _pod_spec(worker)["terminationGracePeriodSeconds"] > SHUTDOWN_GRACE
    # The HPA owns the replica count; a fixed one would reset it on every apply.
    assert "replicas" not in worker["spec"]


def test_k8s_hpa_scales_the_worker_on_cpu() -> None:
    (hpa,) = _k8s_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "canonry-worker"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_k8s_service_selects_the_api_pods() -> None:
    (service,) = _k8s_kind("Service")
    (api,) = [d for d in _k8s_kind("Deployment") if d["metadata"]["name"] == "canonry-api"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for c in _pod_spec(api)["containers"] for p in c.get("ports", [])}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_k8s_migrate_job_runs_once() -> None:
    (job,) = _k8s_kind("Job")
    assert _pod_spec(job)["restartPolicy"] == "Never"
    (container,) = _pod_spec(job)["containers"]
    assert [*container.get("command", []), *container.get("args", [])] == ["canonry", "migrate"]


# --- metrics scraping --------------------------------------------------------------------------

def _deployment(name: str) -> dict[str, Any]:
    (found,) = [d for d in _k8s_kind("Deployment") if d["metadata"]["name"] == name]
    return found


def _scrape_port(workload: dict[str, Any]) -> int:
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true", workload["metadata"]["name"]
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"
    return int(annotations["prometheus.io/port"])


def test_k8s_workers_serve_metrics_where_prometheus_scrapes() -> None:
    (container,) = _pod_spec(_deployment("canonry-worker"))["containers"]
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    port = int(env["CANONRY_METRICS_PORT"])
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    assert _scrape_port(_deployment("canonry-worker")) == port
    argv = [*container["command"], *container["args"]]
    # The metrics server binds CANONRY_HOST: loopback by default, unreachable for Prometheus.
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    build_parser().parse_args(argv[1:])


def test_k8s_api_is_scraped_on_its_own_port() -> None:
    (container,) = _pod_spec(_deployment("canonry-api"))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (config,) = _k8s_kind("ConfigMap")
    assert _scrape_port(_deployment("canonry-api")) == ports["http"] == \
        int(config["data"]["CANONRY_PORT"])
    assert METRICS_PATH in GET_PATHS


def test_compose_workers_serve_metrics() -> None:
    worker = _compose()["services"]["worker"]
    port = worker["environment"]["CANONRY_METRICS_PORT"]
    assert [str(p) for p in worker["expose"]] == [port]
    argv = _as_list(worker["command"])
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    # The shared settings are still there: the worker's environment extends them.
    assert worker["environment"]["CANONRY_DATABASE_URL"].startswith("postgresql+asyncpg://")
