#!/usr/bin/env bash
# One GPU lease's measurements in under 8 minutes, as one JSON (benchmarks/gpu_check/):
#   bash scripts/gpu_check.sh [--data-root shared/datasets/neu-det] [--out FILE] [--jobs K] [--steps a,b]
#   bash scripts/gpu_check.sh --tiny              # every step on CPU, tiny (the test suite runs this)
# The JSON lands in $OUT/gpu_check.json when $OUT is set (a lease), else in --out or the work folder.
# The packages a bare GPU machine lacks travel as wheels in .whl/ (git-ignored): fetch them here, before
# the lease, with `bash scripts/gpu_check.sh --fetch-wheels`, and carry .whl with the run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

# what yololab needs beyond the GPU machine's image (torch, lightning, numpy, scipy, opencv, ... are there);
# the check logs to CSV, but scripts/sweep.py builds each run's command with wandb's own agent code, so wandb
# and what its import needs travel too (about 21 MiB: carry .whl with synthetic data, not with NEU-DET)
missing="hydra-core omegaconf antlr4-python3-runtime faster-coco-eval albumentations albucore simsimd
stringzilla pydantic pydantic-core annotated-types typing-inspection sweeps jsonref jsonschema
jsonschema-specifications referencing rpds-py wandb platformdirs googleapis-common-protos opentelemetry-api
opentelemetry-sdk opentelemetry-semantic-conventions opentelemetry-proto opentelemetry-exporter-otlp-proto-common
opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-http-transport opentelemetry-exporter-otlp-common"

if [ "${1:-}" = "--fetch-wheels" ]; then
  # the versions installed here, as CPython 3.12 x86-64 wheels; antlr4's 4.9.3 exists as a source release only
  pins=$("$python" -c 'import sys, importlib.metadata as m; print(*(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' $missing)
  antlr=$(echo "$pins" | tr ' ' '\n' | grep '^antlr4')
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl $(echo "$pins" | tr ' ' '\n' | grep -v '^antlr4')
  "$python" -m pip wheel -q --no-deps -w .whl "$antlr"
  ls .whl
  exit 0
fi

if [ -d .whl ] && ! "$python" -c 'import hydra' 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/yololab-site .whl/*.whl
  export PYTHONPATH=/tmp/yololab-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD:$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 WANDB_MODE=offline
# 470 s on a lease: the steps' budgets (430 s) and the start; the JSON is rewritten after every step
exec timeout -k 10 "${GPU_CHECK_LIMIT_S:-470}" "$python" -m benchmarks.gpu_check "$@"
