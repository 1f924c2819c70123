# syntax=docker/dockerfile:1
# Tollgate: API server (`serve`) and audit worker (`worker`) from one image.
#   docker build -t tollgate .
#   docker run --rm tollgate --help
# See docker-compose.yml for a full deployment with Redis and PostgreSQL.

FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
# Dependencies first, for layer caching. --ignore-scripts: the `prepare`
# script builds, and the sources are not here yet.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    TOLLGATE_DATA_DIR=/app/.tollgate
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
# Exactly what the npm package ships (package.json "files"): the server
# reads dist/, lua/ (Redis scripts) and dashboard/ (GET /dashboard) at run
# time. test/setup/package.test.ts checks this list against "files".
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/lua ./lua
COPY --from=build --chown=node:node /app/dashboard ./dashboard
COPY --from=build --chown=node:node /app/README.md ./README.md
COPY --from=build --chown=node:node /app/ARCHITECTURE.md ./ARCHITECTURE.md
COPY --from=build --chown=node:node /app/docs ./docs
# Embedded mode (no DATABASE_URL) keeps its PGlite data here; mount a volume.
RUN mkdir -p /app/.tollgate && chown node:node /app/.tollgate
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--port", "8080"]
