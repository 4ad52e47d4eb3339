# One image for every SmartGrowth CRM service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
# DejaVu Sans: the font of the PDF report export (crm.reports.exports.pdf).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
COPY schemas ./schemas
RUN pip install --no-cache-dir -c constraints.txt .
ENV CRM_LOG_FORMAT=json \
    CRM_STATE_DIR=/var/lib/crm
ENTRYPOINT ["crm"]
