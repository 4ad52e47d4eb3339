# syntax=docker/dockerfile:1
# One image for every SmartGrowth CRM service; docker-compose.yml picks the command.
# Stage 1 builds the project's wheel (the one tests/integration/test_installed_wheel.py checks:
# dashboard, Swagger UI and migrations inside) and the wheels of its pinned dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

# Stage 2: only the installed wheels, no sources, no compiler; runs as an unprivileged user.
FROM python:3.11-slim
# DejaVu Sans: the font of the PDF report export (crm.reports.exports.pdf).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels smartgrowth-crm
# CRM_STATE_DIR holds the alerts service's Faust data directory (its table is in memory and
# rebuilt from the changelog topic on start, so it needs no volume).
RUN useradd --system --uid 10001 --home-dir /var/lib/crm --create-home crm
USER crm
WORKDIR /var/lib/crm
ENV CRM_LOG_FORMAT=json \
    CRM_STATE_DIR=/var/lib/crm
ENTRYPOINT ["crm"]
CMD ["--help"]
