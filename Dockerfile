# syntax=docker/dockerfile:1
# Multi-stage: build with the Rust toolchain, ship only the binary on a distroless base
# (glibc + CA certificates, no shell), as a non-root user.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cutover -p slack-standin \
 && mkdir -p /state && strip target/release/cutover target/release/slack-standin

# The Slack stand-in, for docker-compose and local demos.
FROM gcr.io/distroless/cc-debian12:nonroot AS slack-standin
COPY --from=build /src/target/release/slack-standin /usr/local/bin/slack-standin
USER nonroot
EXPOSE 5051
ENTRYPOINT ["/usr/local/bin/slack-standin", "--host", "0.0.0.0", "--port", "5051"]

# The service (the default target).
FROM gcr.io/distroless/cc-debian12:nonroot AS cutover
COPY --from=build /src/target/release/cutover /usr/local/bin/cutover
COPY infra/docker/cutover.toml /etc/cutover/cutover.toml
COPY --from=build --chown=65532:65532 /state /var/lib/cutover
USER nonroot
EXPOSE 8080
VOLUME ["/var/lib/cutover"]
ENTRYPOINT ["/usr/local/bin/cutover"]
CMD ["serve", "--config", "/etc/cutover/cutover.toml"]
