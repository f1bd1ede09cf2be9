set -e
M=./.venv/bin/medgen
export OMP_NUM_THREADS=1
$M data make --out ${WORK:-/tmp/golden}/data --n-train 2000 --n-dev 200 --n-test 200 --seed 3 --workers 2
cat > diff.toml <<'T'
[model]
steps = 2
unet = { channels = [16, 32], attention_levels = [false, true], num_head_channels = 16 }
T
cat > gan.toml <<'T'
[model]
width = 8
T
./.venv/bin/python - <<'P'
import torch
from pathlib import Path
from medgen.tasks.augment import train_joint_generator
from medgen.train.recipe import read_run_config
torch.set_num_threads(1)
for fam in ("diffusion", "gan"):
    cfg = read_run_config(Path(f"${WORK:-/tmp/golden}/{'diff' if fam=='diffusion' else 'gan'}.toml"), fam, budget="20steps", batch_size=4)
    train_joint_generator(fam, "${WORK:-/tmp/golden}/data", Path(f"${WORK:-/tmp/golden}/{fam}"), cfg, progress=False)
P
