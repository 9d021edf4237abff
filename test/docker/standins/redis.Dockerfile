# Stand-in for redis:7-bookworm (the server, and the base of docker/redis-cli), built by
# test/docker/image-test.sh where no image registry is reachable: Debian bookworm minbase +
# Debian's redis-server and redis-tools (7.0). Like the official image it listens on all
# interfaces without protected mode, and keeps no dump (it runs as root: the official image drops to "redis" in its entrypoint).
FROM ra-standin/debian:bookworm-minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && redis-server --version
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
