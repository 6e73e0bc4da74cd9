# The lenet-deploy serve image, CPU: the torch-free deploy install with the CPU build of
# onnxruntime (not onnxruntime-gpu: never both in one environment), no model inside.
#
#   docker build -t registry.example.com/team/lenet-deploy-serve:0.1.0 .
#   lenet-deploy package --out model_repository
#   docker run --rm -p 8080:8080 -v "$PWD/model_repository:/mnt/models:ro" \
#       registry.example.com/team/lenet-deploy-serve:0.1.0
#
# /mnt/models is where KServe's storage initializer puts storageUri, so the same image runs as
# the custom predictor in inferenceservice-serve.yaml (lenet-deploy package --format kserve).
# The GPU image is Dockerfile.gpu. CI cannot run Docker here: .ci/deploy_check.sh makes the
# same install (the requirements file, then --no-deps) in a venv and serves from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The dependencies first (a layer that survives code changes), then the project without its
# own dependency list, which would pull onnxruntime-gpu on Linux x86_64.
COPY docker/requirements-cpu.txt ./
RUN pip install -r requirements-cpu.txt
COPY pyproject.toml README.md ./
COPY lenet_deploy ./lenet_deploy
# The build fails if torch or onnxruntime-gpu got in.
RUN pip install --no-deps . \
    && ! python -c "import torch" 2>/dev/null \
    && ! pip show -q onnxruntime-gpu 2>/dev/null \
    && rm -rf /src

RUN useradd --create-home --uid 10001 lenet
USER lenet
WORKDIR /home/lenet
EXPOSE 8080

ENTRYPOINT ["lenet-deploy"]
CMD ["serve", "--runtime", "ort-cpu", "--model", "/mnt/models/lenet/1/model.onnx", \
     "--host", "0.0.0.0", "--port", "8080"]
