# Multi-stage build of the replywatch binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/replywatch /usr/local/bin/replywatch
# The embedded SQLite database (the default) lives here; mount a volume to keep it.
WORKDIR /var/lib/replywatch
EXPOSE 8080
ENV REPLYWATCH_LISTEN=0.0.0.0:8080
ENTRYPOINT ["replywatch"]
CMD ["serve"]
