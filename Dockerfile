# syntax=docker/dockerfile:1
# lokiban responder image: `docker build -t lokiban .`
# Run: docker run -v lokiban-data:/app/data -v ./lokiban.yaml:/etc/lokiban/lokiban.yaml:ro \
#        -e LOKIBAN_WEBHOOK_TOKEN=… -e LOKIBAN_API_TOKEN=… -e LOKIBAN_ADMIN_TOKEN=… -p 9797:9797 lokiban
# Node.js 24 LTS (node:22-bookworm-slim builds the same image on Node 22).
ARG NODE_IMAGE=node:24-bookworm-slim

# Build stage: dev dependencies and the TypeScript compiler; nothing from here ships but dist/ and the
# production dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The native addons (better-sqlite3, ssh2) are compiled from source: scripts/rebuild-addons.sh says why.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY grafana-plugin/package.json grafana-plugin/
COPY scripts/installed.mjs scripts/rebuild-addons.sh scripts/
# --workspaces=false: the Grafana panel has its own build and is not part of the responder image.
# --ignore-scripts: the sources are not here yet (this layer outlives changes to them), so `prepare`
# cannot build; the addons are then compiled once, against headers that are safe on this Node.
RUN npm ci --workspaces=false --ignore-scripts --no-audit --no-fund && bash scripts/rebuild-addons.sh
COPY tsconfig.json tsconfig.build.json ./
COPY src src
# Pruning keeps the compiled addons: nothing is compiled a second time for the final stage.
RUN npm run build:responder \
  && rm dist/.tsbuildinfo \
  && npm prune --omit=dev --workspaces=false --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /app
RUN groupadd --system --gid 10001 lokiban \
  && useradd --system --uid 10001 --gid lokiban --home-dir /app --shell /usr/sbin/nologin lokiban \
  && mkdir -p /app/data /etc/lokiban \
  && chown lokiban:lokiban /app/data
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
# `lokiban rules render|lint|test` read the jail catalogue and its sample logs from here.
COPY alert-rules alert-rules
COPY host-tools host-tools
COPY config/lokiban.example.yaml /etc/lokiban/lokiban.yaml
USER lokiban
# Inside a container the responder must listen on all interfaces to be reachable through -p;
# LOKIBAN_LISTEN overrides server.listen. Bind the published port to a private address on the host.
ENV LOKIBAN_LISTEN=0.0.0.0:9797
# A smaller young generation keeps RSS under 150 MB with 100,000 active bans (bench/webhook-http.md).
ENV NODE_OPTIONS=--max-semi-space-size=4
EXPOSE 9797
VOLUME ["/app/data"]
# No curl/wget in the image: node itself probes /healthz on the port LOKIBAN_LISTEN names.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const p=(process.env.LOKIBAN_LISTEN||':9797').split(':').pop();fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "--", "dist/cli/main.js"]
CMD ["serve", "--config", "/etc/lokiban/lokiban.yaml"]
