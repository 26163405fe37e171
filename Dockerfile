# kdp's image for sweeps on a cluster (`kdp job` prints the Job that runs it):
#   docker build --build-arg KDP_GIT_COMMIT=$(git rev-parse HEAD) -t REGISTRY/kdp:TAG .
# The build stage installs every dependency and compiles dist/ (npm ci runs the `prepare`
# script, tsc); the image keeps Node 20, the runtime dependencies and dist/src only.
FROM node:20-bookworm-slim AS build
WORKDIR /kdp
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY native-free ./native-free
RUN npm ci

FROM node:20-bookworm-slim
WORKDIR /kdp
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /kdp/dist/src ./dist/src
# The machine record's commit: the image has no .git to ask.
ARG KDP_GIT_COMMIT=
ENV KDP_GIT_COMMIT=$KDP_GIT_COMMIT
# Tables on 2 MiB pages where the node's transparent huge pages are `madvise` (src/replay/huge-pages.ts).
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
# uid/gid 1000, as the Job's securityContext (runAsUser, fsGroup) expects.
USER node
ENTRYPOINT ["node", "--max-semi-space-size=64", "/kdp/dist/src/cli/main.js"]
CMD ["--help"]
