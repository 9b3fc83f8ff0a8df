# syntax=docker/dockerfile:1
# k8sPodPCP: one image for the prediction API and every pipeline command (`python -m app …`).
#
#   docker build -t podpower:0.1.0 .                       # hashed text features (default)
#   docker build --build-arg SBERT=true -t podpower:0.1.0-sbert .   # + SBERT (torch CPU, model shipped in a wheel)
#   docker run --rm -p 8000:8000 podpower:0.1.0             # API on :8000 with the baked-in artifacts
#   docker run --rm -v "$PWD/artifacts:/artifacts:ro" -p 8000:8000 podpower:0.1.0   # mounted artifacts win
#   docker run --rm podpower:0.1.0 python -m app predict --help
#
# Two stages: the builder installs wheels into /opt/venv; the runtime copies only that venv, so no
# compiler, pip cache or build tool reaches the image. `--only-binary=:all:` makes a missing wheel a build
# error instead of a silent source build.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG SBERT=false
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.txt requirements-sbert.txt ./
RUN pip install --no-cache-dir --only-binary=:all: -r requirements.txt \
    && if [ "$SBERT" = "true" ]; then pip install --no-cache-dir --only-binary=:all: -r requirements-sbert.txt; fi

FROM ${PYTHON_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM to the server/collector (both stop cleanly on it) and reaps zombies.
# Debian stable's tini does not change within a release, so the version is left to the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 podpower \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin podpower
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY app/ /app/app/
COPY artifacts/ /app/artifacts/
COPY --chmod=0755 docker/entrypoint.sh /app/docker/entrypoint.sh
# Bytecode compiled at build time: the root filesystem is read-only in the cluster.
# HOME and MPLCONFIGDIR point at /tmp (an emptyDir in the manifests) for libraries that want a cache dir.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
RUN python -m compileall -q /app/app
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
