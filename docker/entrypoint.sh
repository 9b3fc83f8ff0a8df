#!/bin/sh
# Container entrypoint (runs under tini): choose the artifacts, then exec the command.
#
# ENCODER_PATH / MODEL_PATH, when set, win. Otherwise the pair mounted at $ARTIFACTS_DIR (default
# /artifacts, e.g. the podpower-data PVC) is used when the encoder, the model and its card are all
# there, else the pair baked into the image at /app/artifacts. They are chosen together on purpose:
# an encoder from one training run with a model from another gives vectors of the wrong width, or
# silently wrong neighbours (the server also refuses files whose SHA-256 differs from the card's).
set -eu

mounted="${ARTIFACTS_DIR:-/artifacts}"
baked="/app/artifacts"

if [ -f "$mounted/encoder.npz" ] && [ -f "$mounted/knn_energy.npz" ] && [ -f "$mounted/knn_energy.card.json" ]; then
    dir="$mounted"
else
    dir="$baked"
fi
: "${ENCODER_PATH:=$dir/encoder.npz}"
: "${MODEL_PATH:=$dir/knn_energy.npz}"
export ENCODER_PATH MODEL_PATH

exec "$@"
