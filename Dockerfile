# rqlite-krm function image: ghcr.io/rqlite/rqlite-krm:<version>
# A static binary on a distroless base that runs as a non-root user: the function needs no shell,
# no libc and no network (kustomize runs it with --network none).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY fn/ fn/
ARG VERSION=v0.1.0
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X github.com/rqlite/rqlite-krm/fn/cli.Version=${VERSION}" \
      -o /out/rqlite-fn ./fn

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rqlite-fn /usr/local/bin/rqlite-fn
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/rqlite-fn"]
