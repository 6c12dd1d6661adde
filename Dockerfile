# The berth image: a release build in a Rust image, then only the binary on Debian slim,
# running as an unprivileged user with its data under /var/lib/berth.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY crates crates
COPY migrations migrations
RUN cargo build --release --locked --bin berth

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/berth berth \
    && mkdir -p /var/lib/berth && chown berth /var/lib/berth
COPY --from=build /src/target/release/berth /usr/local/bin/berth
USER berth
ENV BERTH_DATA_DIR=/var/lib/berth \
    BERTH_HTTP__ADDR=0.0.0.0:5000
EXPOSE 5000
VOLUME /var/lib/berth
HEALTHCHECK --interval=10s --timeout=3s CMD ["berth", "probe", "http://127.0.0.1:5000/readyz"]
ENTRYPOINT ["berth"]
CMD ["serve"]
