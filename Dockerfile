# syntax=docker/dockerfile:1
# Canonry: one image for every role (`canonry serve`, `canonry worker`, `canonry migrate`).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: install Canonry and its dependencies into a self-contained venv -----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Same path as in the runtime stage: a venv is not relocatable.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY workers ./workers
COPY schemas ./schemas
# A regular (non-editable) install: the Alembic scripts travel as package data.
RUN pip install --upgrade pip && pip install . \
 && python -c "import canonry.service.migrations as m; print('schema head', m.head_revision())"

# --- runtime: slim Python, the venv, nothing else ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CANONRY_LOG_FORMAT=json
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 canonry \
 && useradd --system --uid 10001 --gid canonry --home-dir /var/lib/canonry --create-home \
        --shell /usr/sbin/nologin canonry
COPY --from=builder /opt/venv /opt/venv
# The working directory is writable: the default embedded SQLite database lands here.
WORKDIR /var/lib/canonry
USER 10001:10001
EXPOSE 8080
# No curl in the image: the standard library makes the request. Only `serve` answers HTTP;
# compose disables this check for worker and migrate containers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CANONRY_PORT', '8080') + '/healthz', timeout=4)"]
CMD ["canonry", "serve", "--host", "0.0.0.0"]
