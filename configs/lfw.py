r"""LFW faces (the paper's first domain), 64x64 colour fields.

The bundled model (saved_models/divcolor_lfw) is this file's ``cpu`` variant, trained from the
repository root, stage by stage, into one workdir (each command resumes if interrupted):

  divcolor-train-vae      --config configs/lfw.py:cpu --workdir workdirs/lfw_cpu
  divcolor-train-features --config configs/lfw.py:cpu --workdir workdirs/lfw_cpu
  divcolor-train-mdn      --config configs/lfw.py:cpu --workdir workdirs/lfw_cpu
  divcolor-evaluate-vae   --workdir workdirs/lfw_cpu     # Tables 1-2 on the held-out 5%
  divcolor-evaluate       --model workdirs/lfw_cpu       # Table 3 on the held-out 5%
  divcolor-export         --model workdirs/lfw_cpu --out saved_models/divcolor_lfw

What it gives, and how long it takes on 2 CPU cores: see README.md, "The bundled model". The
paper's LFW row (full width, GPU): Table 1 all terms .029 / .029 (All / Grid), Table 2 2.65 /
2.83, Table 3 error-of-best .030, variance 1.1e-3.

The paper-sized config is the default (no variant). Variants after a colon, comma-separated: cpu
(sized for this CPU), tiny (test twin on ../shared/data/lfw/ci), l2 / mah / all (Table 1-2 loss
ablations), skip ("Ours+skip"), authors (the authors' code's choices), e.g.
  --config configs/lfw.py:l2,tiny
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "lfw"
  c.data.train = config_lib.shared_data("lfw/train")
  return config_lib.apply_variants(c, arg, {"data.train": config_lib.shared_data("lfw/ci")})
