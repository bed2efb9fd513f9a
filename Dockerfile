# The suanchou image: `suanchou server`, `suanchou migrate` and `suanchou agent` (the Kubernetes
# executor's client included), as the Helm charts in helm/ run them.
#   docker build -t suanchou:0.1.0 .      (or: podman build / buildah build)
# Both stages use the same base, pinned to an exact Python and Debian release (pin it by digest in
# your registry mirror: FROM python:3.11.11-slim-bookworm@sha256:...). 3.11 is the interpreter
# the test suite runs on. tests/deploy/test_dockerfile.py checks this file's rules statically.

# --- build: a virtualenv with suanchou and its pinned dependencies ---------------------------
FROM python:3.11.11-slim-bookworm AS build
# pip compiles the bytecode here: the runtime's root filesystem is read-only.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY scheduler ./scheduler
COPY agents ./agents
COPY benchmarks ./benchmarks
RUN python -m venv /opt/suanchou \
    && /opt/suanchou/bin/pip install '.[kubernetes]' \
    && /opt/suanchou/bin/suanchou --help >/dev/null

# --- runtime: the virtualenv only, no compiler, no pip cache, no source tree ----------------
FROM python:3.11.11-slim-bookworm
# The numeric user the charts' podSecurity.runAsUser defaults to; no login shell, no home.
RUN groupadd --system --gid 10001 suanchou \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin suanchou
COPY --from=build /opt/suanchou /opt/suanchou
ENV PATH=/opt/suanchou/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /tmp
# gRPC API, plaintext grpc.health.v1 for probes, Prometheus metrics (when enabled).
EXPOSE 50051 50052 9090
ENTRYPOINT ["suanchou"]
CMD ["server", "--help"]
