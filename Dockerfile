# One image for the API (the default command), the Celery worker and the Streamlit UI.
#
#   docker build -t ai-assessments .
#   docker build --build-arg BASE_IMAGE=<a Debian image with python3 and python3-venv> ...
#
# Any base with Python 3.11+ and the venv module works. Behind a TLS-intercepting proxy,
# put its CA certificate at deploy/extra-ca.crt: only the builder stage sees it.
#
# Few steps, and the large ones last: with the vfs storage driver every step copies the
# whole file system of the one before.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# The optional CA file rides along with pyproject.toml: COPY fails on a pattern that
# matches nothing, and the legacy builder has no build secrets.
COPY pyproject.toml deploy/extra-ca.cr[t] /build/
# Dependencies only, from pyproject.toml: a code change does not reinstall them. pip itself
# leaves the venv afterwards, so the final stage has no installer.
RUN set -eu; \
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore; \
    if [ -f /build/extra-ca.crt ]; then \
      { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; cat /build/extra-ca.crt; } \
        > /build/ca-bundle.crt; \
      export PIP_CERT=/build/ca-bundle.crt; \
    fi; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/build/pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /build/requirements.txt; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --quiet -r /build/requirements.txt; \
    /opt/venv/bin/pip uninstall --quiet --yes pip; \
    rm -rf /build

FROM ${BASE_IMAGE} AS source
COPY . /app
# Compiled once here: the code is read-only at run time, so each process would redo it.
RUN rm -rf /app/deploy && python3 -m compileall -q /app

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    DATA_DIR=/var/lib/assessments \
    PORT=8000
RUN useradd --uid 10001 --user-group --create-home app \
    && mkdir -p /var/lib/assessments && chown app:app /var/lib/assessments
WORKDIR /app
USER app
VOLUME /var/lib/assessments
EXPOSE 8000 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["sh", "-c", "exec uvicorn backend.main:app --host 0.0.0.0 --port \"${PORT:-8000}\""]
COPY --from=builder /opt/venv /opt/venv
COPY --from=source /app /app
