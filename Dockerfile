# One image for every SmartGrowth CRM service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
COPY schemas ./schemas
RUN pip install --no-cache-dir -c constraints.txt .
ENV CRM_LOG_FORMAT=json \
    CRM_STATE_DIR=/var/lib/crm
ENTRYPOINT ["crm"]
