# syntax=docker/dockerfile:1
#
# Container image with hookd (the daemon) and hookctl (the CLI).
#
#   docker build -t hookd \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
#   docker run --rm hookd version
#   docker run --rm --entrypoint /usr/local/bin/hookctl hookd version
#
# The version values end up in `hookd version` and `hookctl version`.

# ---- build ------------------------------------------------------------------
# Build on the builder's own platform and cross-compile (pure Go, no cgo), so
# that multi-platform builds with buildx need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build

WORKDIR /src

# Dependencies first: this layer is reused until go.mod / go.sum change.
COPY go.mod go.sum* ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
ARG TARGETOS
ARG TARGETARCH

RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    pkg=github.com/hookd/hookd/internal/buildinfo; \
    ldflags="-s -w -X ${pkg}.Version=${VERSION} -X ${pkg}.Commit=${COMMIT} -X ${pkg}.Date=${DATE}"; \
    for cmd in hookd hookctl; do \
      CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" \
        go build -trimpath -ldflags "${ldflags}" -o "/out/${cmd}" "./cmd/${cmd}"; \
    done

# ---- runtime ----------------------------------------------------------------
# Static binaries on distroless: CA certificates and tzdata included, no shell,
# runs as the unprivileged "nonroot" user (uid 65532).
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="hookd" \
      org.opencontainers.image.description="Webhook delivery daemon fed by Kafka" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"

COPY --from=build /out/hookd /out/hookctl /usr/local/bin/

USER nonroot:nonroot
WORKDIR /home/nonroot

ENV HOOKD_HTTP_ADDR=:8080
EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/hookd"]
CMD ["serve"]
