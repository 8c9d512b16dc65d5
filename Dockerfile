# Docent: API server (`serve`) or ingest worker (`worker`), chosen by the command.
FROM node:20-bookworm-slim AS dependencies
WORKDIR /app
# Native modules (better-sqlite3, hnswlib-node) compile when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    DOCENT_DATA_DIR=/data \
    DOCENT_MODELS_DIR=/models \
    DOCENT_HOST=0.0.0.0 \
    DOCENT_PORT=8080
COPY --from=dependencies /app/node_modules ./node_modules
COPY . .
RUN mkdir -p /data /models && chown node:node /data /models
USER node
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.DOCENT_PORT || 8080) + '/v1/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/docent.js"]
CMD ["serve"]
