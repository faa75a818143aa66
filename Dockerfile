# One image for every caisse binary. Build: docker build -t caisse .
# Run one: docker run caisse caisse-gateway --help
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential pkg-config librdkafka-dev libmicrohttpd-dev libjansson-dev \
        libpq-dev libcurl4-openssl-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common ./common
COPY gateway ./gateway
COPY session-worker ./session-worker
COPY expiry-worker ./expiry-worker
COPY webhook-worker ./webhook-worker
RUN make -j"$(nproc)" all

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        librdkafka1 libmicrohttpd12 libjansson4 libpq5 libcurl4 libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin caisse
COPY --from=build /src/build/bin/caisse-* /usr/local/bin/
USER 10001:10001
EXPOSE 8080
CMD ["caisse-gateway"]
