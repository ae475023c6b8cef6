# nats-mysql-tables-backup: the service, as docker-compose.yml runs it.
#   docker build -t nats-mysql-tables-backup .
#   docker run --rm -e NATS_URL=nats://… -e MYSQL_URL=mysql://root@…:3306/test \
#     -e MYSQL_PASSWORD_FILE=/run/secrets/… -v backups:/backups nats-mysql-tables-backup

# Build: every dependency (TypeScript), then dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The postinstall script (7zip-bin's exec bit) must be there before npm ci.
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Run: production dependencies, dist/, the stream declarations, and 7-Zip.
FROM node:20-bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends p7zip-full \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at start from ../../streams/ relative to dist/jobs/declarations.js, i.e. /app/streams.
COPY streams ./streams
# A named volume mounted here starts out with this directory's owner: the node user.
RUN mkdir -p /backups && chown node:node /backups
USER node
ENV BACKUP_DIR=/backups
CMD ["node", "dist/main.js"]
