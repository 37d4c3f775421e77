# The web process (and the scheduler): no model engine inside.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY workers workers
COPY arena_cli arena_cli
COPY migrations migrations
COPY templates templates
COPY static static
RUN pip install --no-cache-dir ".[moderation,admin]"
EXPOSE 8000
CMD ["arena", "serve", "--host", "0.0.0.0", "--port", "8000"]
