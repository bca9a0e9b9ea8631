# The rqlite-krm function image: ghcr.io/rqlite/rqlite-krm:<version>
#
#   make image                                    # make build, then docker build of this file
#   docker push ghcr.io/rqlite/rqlite-krm:<version>   # a release, after make image VERSION=<version>
#
# It pulls nothing and builds nothing: FROM scratch, the static binary that `make build` writes
# (CGO_ENABLED=0, the same bytes bin/rqlite-fn has) and a passwd/group of our own (image/). No
# shell, no libc, no CA bundle: the function reads stdin and writes stdout, and the shrink Job
# trusts the service account's CA and --ca-file only.
#
# Users. kustomize (kyaml) and kpt start function containers with `docker run --user nobody`,
# which Docker resolves in the image's /etc/passwd: without an entry the container does not start
# ("unable to find user nobody"). nobody is 65534:65534 as on Debian. The default user is
# nonroot, 65532:65532, numeric so that Kubernetes' runAsNonRoot can check it, and the uid the
# shrink Job's pod securityContext names.
FROM scratch
ARG VERSION=v0.1.0
LABEL org.opencontainers.image.title="rqlite-krm" \
      org.opencontainers.image.description="KRM function that renders rqlite clusters for Kubernetes (kustomize, kpt, Argo CD) and runs their voter shrink Job" \
      org.opencontainers.image.source="https://github.com/rqlite/rqlite-krm" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --chown=0:0 image/passwd /etc/passwd
COPY --chown=0:0 image/group /etc/group
COPY --chown=0:0 bin/rqlite-fn /usr/local/bin/rqlite-fn
USER 65532:65532
# No arguments is KRM mode (a ResourceList on stdin), which is how kustomize and kpt call it; the
# shrink Job passes `shrink …` as its args. No CMD, so nothing is appended by default.
ENTRYPOINT ["/usr/local/bin/rqlite-fn"]
