# Multi-stage build of the replywatch binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
COPY --from=build /src/target/release/replywatch /usr/local/bin/replywatch
ENTRYPOINT ["replywatch"]
