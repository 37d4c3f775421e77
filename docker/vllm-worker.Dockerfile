# A GPU worker: vLLM's official image (CUDA torch + vLLM) plus the arena's worker code.
ARG VLLM_IMAGE=vllm/vllm-openai:latest
FROM ${VLLM_IMAGE}
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY workers workers
COPY arena_cli arena_cli
COPY migrations migrations
COPY templates templates
COPY static static
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["arena", "worker"]
