#!/bin/sh
# Container entrypoint (runs under tini): choose the artifacts, then exec the command.
#
# ENCODER_PATH / MODEL_PATH, when set, win. Otherwise the pair mounted at $ARTIFACTS_DIR (default
# /artifacts, e.g. the podpower-data PVC) is used when BOTH files are there, else the pair baked into
# the image at /app/artifacts. The two are chosen together on purpose: an encoder from one training
# run with a model from another gives vectors of the wrong width, or silently wrong neighbours.
set -eu

mounted="${ARTIFACTS_DIR:-/artifacts}"
baked="/app/artifacts"

if [ -f "$mounted/encoder.joblib" ] && [ -f "$mounted/knn_energy.joblib" ]; then
    dir="$mounted"
else
    dir="$baked"
fi
: "${ENCODER_PATH:=$dir/encoder.joblib}"
: "${MODEL_PATH:=$dir/knn_energy.joblib}"
export ENCODER_PATH MODEL_PATH

exec "$@"
