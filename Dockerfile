# smokebot: one image, three roles (`serve`, `worker`, `run`), chosen by the command.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY checks ./checks
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 smokebot
COPY --from=build /install /usr/local
USER smokebot
WORKDIR /home/smokebot
ENV SMOKEBOT_CONFIG=/etc/smokebot/smoketest.yaml PYTHONUNBUFFERED=1
EXPOSE 3000
ENTRYPOINT ["smokebot"]
CMD ["serve", "--port", "3000"]
