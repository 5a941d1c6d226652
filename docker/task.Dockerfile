# The one image every task of both platforms runs: Python 3.11 + flytekit + kfp + this package.
#
# Why one image for both: the comparison is Flyte against KFP, not one image against another. With
# the same base, Python, libraries (pinned by constraints.txt) and size, a task's pod start, image
# pull and import time differ only by what the platform itself does around it. The suite records
# the image each platform ran in its fairness manifest and warns when they differ (the image, not
# the tasks' Python: nothing reports that, the image decides it).
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

# A numeric non-root user: hardened clusters refuse root (PodSecurity "restricted", KFP's
# defaultSecurityContextRunAsNonRoot: "true" in pipeline-install-config), and the kubelet can check
# runAsNonRoot only against a numeric USER. What each platform writes, checked against upstream:
# - KFP 2.17: the launcher stages artifacts under /gcs, /s3 and /minio, and the SDK writes to
#   /.local, /.cache and /.config; the compiler mounts an emptyDir at each of those paths
#   (kubeflow/pipelines backend/src/v2/compiler/argocompiler/container.go, *ScratchLocation), so
#   they are writable by any user.
# - Flyte 1.16: pyflyte-execute works in a tempfile.mkdtemp directory (TMPDIR, /tmp here) and uploads
#   outputs to the blob store; nothing is written at the filesystem root.
# HOME is a directory this user owns, for any library that caches under ~.
RUN groupadd --gid 65532 bench && useradd --uid 65532 --gid 65532 --create-home --home-dir /home/bench bench
ENV HOME=/home/bench
USER 65532:65532
WORKDIR /home/bench
