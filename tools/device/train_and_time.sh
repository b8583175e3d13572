#!/bin/bash
# one device call: install diffusers wheel, train, time, pack the results under $OUT
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
nvidia-smi --query-gpu=name,memory.total --format=csv | tee $OUT/gpu.txt
python3 -m semcomm_ros.reconstruction.train --pack ${PACK:-out/gpu/pack_codec.npz} --out /tmp/run --init none \
  --steps ${STEPS:-30000} --time-limit ${TLIM:-380} --batch ${BATCH:-32} --crop 256 --lr 3e-4 \
  --device cuda --save-every 2000 2>&1 | tee $OUT/train.log | grep -v "it/s]$" | tail -40
python3 -c "
import torch; s=torch.load('/tmp/run/state.pt',weights_only=False)
open('$OUT/history.txt','w').write('\n'.join(f'{a} {b:.5f}' for a,b in s['history']))"
python3 tools/device/gpu_timing.py /tmp/run/model $OUT/gpu_timing.json
cd /tmp/run && tar cf /tmp/model.tar model && split -b 15M /tmp/model.tar $OUT/model.tar.part_ && ls -la $OUT
