# smokebot: one image, three roles (`serve`, `worker`, `run`), chosen by the command. Runs with
# a read-only root filesystem (manifests/): pip compiles the bytecode at build time, nothing
# writes any at run time, and /tmp is the pod's emptyDir.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY checks ./checks
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN groupadd --gid 10001 smokebot \
    && useradd --uid 10001 --gid 10001 --create-home smokebot
COPY --from=build /install /usr/local
# Numeric, so that Kubernetes' runAsNonRoot can verify it (manifests/ run as 10001:10001).
USER 10001:10001
WORKDIR /home/smokebot
ENV SMOKEBOT_CONFIG=/etc/smokebot/smoketest.yaml PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 3000
ENTRYPOINT ["smokebot"]
CMD ["serve", "--port", "3000"]
