# The one image every task of both platforms runs: Python 3.11 + flytekit + kfp + this package.
#
# Why one image for both: the comparison is Flyte against KFP, not one image against another. With
# the same base, Python, libraries (pinned by constraints.txt) and size, a task's pod start, image
# pull and import time differ only by what the platform itself does around it. The suite records
# the image each platform ran in its fairness manifest and warns when they differ.
#
# Build from the repository root (docs/cluster.md):
#   docker build -f docker/task.Dockerfile -t retrain-bench-task:0.1.0 .
#   kind load docker-image retrain-bench-task:0.1.0
# Tag it with a version, never :latest: Kubernetes pulls :latest on every pod (imagePullPolicy
# Always), so an image loaded into kind would not be used.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package build needs (pyproject names README.md as the readme).
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# Not editable: the pods import retrain_bench from site-packages, the same code the harness registered.
RUN pip install -c constraints.txt . && rm -rf /src
# The pipelines are not installed (bench/ is the repository's benchmark, not a library): Flyte's pods
# import bench.flyte.workflow by name, so bench/ lies in a directory of its own on PYTHONPATH, where no
# other folder of the repository can shadow an installed package.
COPY bench /opt/retrain-bench/bench
ENV PYTHONPATH=/opt/retrain-bench
RUN python -c "import retrain_bench.workload.retraining, bench.flyte.workflow, bench.kfp.pipeline, flytekit, kfp"

# Root, as KFP's default python:3.11 image: the KFP launcher stages artifacts under local paths such
# as /minio/... or /s3/... at the filesystem root, which a non-root user cannot create.
WORKDIR /
