# Stand-in for node:20-bookworm-slim, built by test/docker/image-test.sh where no image
# registry is reachable: Debian bookworm minbase + this machine's node and npm, laid out
# like the official image (/usr/local/bin/node, npm under /usr/local/lib/node_modules,
# user "node" uid/gid 1000). It also carries the host's CA bundle and npm registry setting
# so that `npm ci` in a `docker build --network host` reaches the registry the host reaches.
FROM ra-standin/debian:bookworm-minbase
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY npmrc /usr/local/etc/npmrc
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
CMD ["node"]
