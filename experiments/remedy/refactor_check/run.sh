# usage: run.sh OUT ; runs the remedy through the CLI at fixed seeds and threads
set -e
export OMP_NUM_THREADS=1
./.venv/bin/medgen errors remedy --data ${WORK:-/tmp/golden}/data --out $1 --n 6 --steps 20 \
  --oversample 2 --detector-seeds 2 --jobs 1 --diffusion ${WORK:-/tmp/golden}/diffusion --gan ${WORK:-/tmp/golden}/gan --seed 0 --guidance 1.5
