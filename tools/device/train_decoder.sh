#!/bin/bash
# One device call (~10 minutes): fine-tune the embedded decoder on a GPU and bring the
# checkpoint back. Resumable across calls: it starts from $RUN/model when an earlier call
# left one there (else from the shipped checkpoint, models/embedded_decoder), so the step
# count continues (decoder.json: training.total_steps); within a call, /tmp/run/state.pt
# is saved every SAVE steps and the time limit stops the run cleanly.
#
#   carried: .whl (diffusers + deps wheels for the device's Python), $RUN/pack.npz (pairs
#            made here by `semcomm train-decoder --out $RUN --steps 0`), $RUN/model (opt.)
#   env:     RUN (out/gpu12), TLIM training seconds (480), STEPS schedule length (3000),
#            BATCH (32), CROP (256), LR (3e-4), DEVICE (cuda; cpu for a dry run), SAVE (500)
#   $OUT:    train.log, model.tar (model/, history.txt, timing.json, gpu.txt)
# Dry run on a CPU (what CI-less checking does): OUT=/tmp/o DEVICE=cpu STEPS=5 TLIM=60 \
#   BATCH=2 CROP=64 bash tools/device/train_decoder.sh
set -o pipefail
RUN=${RUN:-out/gpu12}
: "${OUT:?set OUT to the folder that comes back}"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ "${DEVICE:-cuda}" = cpu ] && PY=.venv/bin/python
if ! $PY -c "import diffusers" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || { echo "wheel install failed" >&2; exit 1; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
(nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no GPU") \
  > /tmp/gpu.txt
[ -f "$RUN/pack.npz" ] || { echo "no $RUN/pack.npz: build it here first" >&2; exit 1; }
INIT=shipped
[ -f "$RUN/model/decoder.json" ] && INIT=$RUN/model
echo "init: $INIT" | tee $OUT/train.log
rm -rf /tmp/run && mkdir -p /tmp/run
$PY -m semcomm_ros.reconstruction.train --pack "$RUN/pack.npz" --out /tmp/run --init "$INIT" \
  --steps ${STEPS:-3000} --time-limit ${TLIM:-480} --batch ${BATCH:-32} --crop ${CROP:-256} \
  --lr ${LR:-3e-4} --device ${DEVICE:-cuda} --save-every ${SAVE:-500} 2>&1 \
  | grep -v "it/s]$" | tee -a $OUT/train.log | tail -20
[ -f /tmp/run/model/decoder.json ] || { echo "no model written" >&2; exit 1; }
$PY -c "
import torch; s=torch.load('/tmp/run/state.pt',weights_only=False)
open('/tmp/run/history.txt','w').write('\n'.join(f'{a} {b:.5f}' for a,b in s['history']))"
$PY tools/device/gpu_timing.py /tmp/run/model /tmp/run/timing.json ${TIMING_RUNS:-50} \
  >> $OUT/train.log 2>&1
cp /tmp/gpu.txt /tmp/run/gpu.txt
tar cf $OUT/model.tar -C /tmp/run model history.txt timing.json gpu.txt
ls -la $OUT
# back here: mkdir -p $RUN && tar xf <files_at>/model.tar -C $RUN, then
#   semcomm bench decoder --checkpoint $RUN/model   (and copy to models/embedded_decoder to ship)
