# mnist-queue in one container, as the original app ran: `mnistq up` starts Redis, one
# Celery worker per CPU and the API (page and JSON) on port 5000, all inside this image.
#
#   docker build -t mnist-queue . && docker run -p 5000:5000 mnist-queue
#
# then open http://localhost:5000/. `docker stop` stops it cleanly: tini (PID 1) forwards
# SIGTERM to `mnistq up`, which stops the API and the workers (each finishes its chunk), then
# Redis. For more than one machine's worth of workers use docker-compose.yml instead.
#
# The stages up to `model` are Dockerfile.worker's, word for word, so that a machine that
# builds both trains the model once (BuildKit reuses the cached stages); its build arguments
# (PYTHON_IMAGE, TRAIN_MODEL, MNIST_MIRROR, TRAIN_LIMIT, TRAIN_RECIPE) mean the same here.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- base: the slim Python every stage starts from, the settings every stage shares ----
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ---- wheels: every dependency (exact versions, hashes checked) and mnist-queue as wheels ----
FROM base AS wheels
WORKDIR /src
# Dependencies first, from the lock alone, so a code change reuses this layer.
COPY requirements.lock ./
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels --requirement requirements.lock
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- app: the wheels installed, a non-root user; no wheel files, caches, compilers or
# the dependencies' own test suites (their `tests` folders) ----
FROM base AS app
RUN groupadd --system --gid 10001 mnistq \
    && useradd --system --uid 10001 --gid mnistq --no-log-init --no-create-home \
       --home-dir /app --shell /usr/sbin/nologin mnistq
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && find "$site" -depth -type d -name tests -exec rm -rf {} +
WORKDIR /app
ENV MNISTQ_MODEL_PATH=/app/models/mnist_svc.joblib

# ---- model: fetch MNIST (checksums verified) and train; TRAIN_MODEL=0 skips both ----
FROM app AS model
ARG TRAIN_MODEL=1
# Optional: another MNIST mirror (`mnistq data fetch --mirror`); fewer training images or
# the quick recipe (`mnistq train --limit N --recipe small`) for a faster, weaker model.
ARG MNIST_MIRROR=""
ARG TRAIN_LIMIT=""
ARG TRAIN_RECIPE=""
ENV MNISTQ_DATA_DIR=/build/data \
    MNISTQ_MODEL_PATH=/build/models/mnist_svc.joblib
# The download lives in a build cache, never in a layer: a rebuild after a code change
# retrains without downloading again (fetch keeps files whose checksums match).
RUN --mount=type=cache,target=/build/data \
    mkdir -p /build/models \
    && if [ "$TRAIN_MODEL" = "1" ]; then \
         mnistq data fetch --dest "$MNISTQ_DATA_DIR" ${MNIST_MIRROR:+--mirror "$MNIST_MIRROR"} \
         && mnistq train --out "$MNISTQ_MODEL_PATH" ${TRAIN_LIMIT:+--limit "$TRAIN_LIMIT"} \
              ${TRAIN_RECIPE:+--recipe "$TRAIN_RECIPE"}; \
       fi

# ---- runtime: the app plus Debian's redis-server and tini; the model baked in ----
FROM app AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="mnist-queue" \
      org.opencontainers.image.description="mnist-queue in one container: Redis, Celery workers and the HTTP API (mnistq up)" \
      org.opencontainers.image.version="${VERSION}"
# redis-server for `mnistq up`'s private Redis; tini as PID 1 (forwards signals, reaps).
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server tini \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && mkdir -p /app/.mnistq \
    && chown mnistq:mnistq /app/.mnistq
COPY --from=model /build/models/ /app/models/
# Redis's append-only file and the logs live under /app/.mnistq (a volume keeps them).
VOLUME ["/app/.mnistq"]
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/readyz', timeout=4)"]
ENTRYPOINT ["tini", "--"]
# Workers: one per CPU of the container (`mnistq up`'s default); add `--workers N` to choose.
CMD ["mnistq", "up", "--host", "0.0.0.0", "--port", "5000"]
