# One image for every caisse binary (gateway, the three workers, caisse-admin).
#
#   docker build -t caisse:dev .
#   docker run --rm caisse:dev caisse-gateway --help
#
# Two stages: the build stage has the compiler and the -dev packages; the final stage has
# only the shared libraries the binaries link against (deploy/docker/check-image.sh keeps
# both lists true to the Makefile and to the binaries' ELF headers), CA certificates for
# TLS to webhook endpoints and Kafka, and two small scripts. It runs as an unprivileged
# numeric user, so Kubernetes can verify runAsNonRoot, and needs no writable root
# filesystem.

# ---- build ------------------------------------------------------------------
FROM debian:bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config \
        librdkafka-dev libmicrohttpd-dev libjansson-dev libpq-dev libcurl4-openssl-dev libssl-dev \
        libicu-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the binaries are built from (see .dockerignore), so a change to tests or docs
# does not invalidate the build layer.
COPY Makefile ./
COPY common ./common
COPY gateway ./gateway
COPY session-worker ./session-worker
COPY expiry-worker ./expiry-worker
COPY webhook-worker ./webhook-worker
COPY admin ./admin
RUN make -j"$(nproc)" all \
    && strip --strip-unneeded build/bin/caisse-*

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        librdkafka1 libmicrohttpd12 libjansson4 libpq5 libcurl4 libssl3 libicu72 \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 caisse \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin caisse
COPY --from=build /src/build/bin/caisse-gateway /src/build/bin/caisse-session-worker \
     /src/build/bin/caisse-expiry-worker /src/build/bin/caisse-webhook-worker \
     /src/build/bin/caisse-admin /usr/local/bin/
# Health probe for compose (no curl in the image) and the demo seed of compose / dev.
COPY deploy/docker/http-probe.sh /usr/local/bin/caisse-http-probe
COPY deploy/docker/demo-seed.sh /usr/local/bin/caisse-demo-seed
USER 10001:10001
# 8080 merchant API, 8081 gateway internal API + health + metrics,
# 8091/8092/8093 health + metrics of the session, expiry and webhook workers.
EXPOSE 8080 8081 8091 8092 8093
CMD ["caisse-gateway"]
