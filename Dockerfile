# The lenet-deploy serve image: the torch-free deploy install (core + [serve]), no model inside.
#
#   docker build -t lenet-deploy-serve:0.1.0 .
#   lenet-deploy package --out model_repository
#   docker run --rm -p 8080:8080 -v "$PWD/model_repository:/mnt/models:ro" lenet-deploy-serve:0.1.0
#
# /mnt/models is where KServe's storage initializer puts storageUri, so the same image runs as
# the custom predictor in inferenceservice-serve.yaml (lenet-deploy package --format kserve).
# CI cannot run Docker here: .ci/deploy_check.sh runs the same install and command in a venv.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY lenet_deploy ./lenet_deploy
# No torch: the [train] extra is not installed; the build fails if something pulls it in.
RUN pip install ".[serve]" \
    && ! python -c "import torch" 2>/dev/null \
    && rm -rf /src

RUN useradd --create-home --uid 10001 lenet
USER lenet
WORKDIR /home/lenet
EXPOSE 8080

ENTRYPOINT ["lenet-deploy"]
CMD ["serve", "--runtime", "ort-cpu", "--model", "/mnt/models/lenet/1/model.onnx", \
     "--host", "0.0.0.0", "--port", "8080"]
