r"""LFW faces (the paper's first domain), 64x64 colour fields.

The bundled model (saved_models/divcolor_lfw, version 4) is this file's ``cpu_skip`` variant
resumed under ``cpu_skip_long`` (version 3), then the joint stage of ``cpu_joint`` (this project's
addition, not in the paper: the MDN and the decoder fine-tuned together on the colour error of the
best decoded mean), trained from the repository root, stage by stage, into one workdir (each
command resumes if interrupted; about 4 h 10 min in all on 2 CPU cores, most stages sharing the
CPU with other jobs; ~8 min per VAE epoch alone):

  divcolor-train-vae      --config configs/lfw.py:cpu_skip      --workdir workdirs/lfw  # 78 min
  divcolor-train-vae      --config configs/lfw.py:cpu_skip_long --workdir workdirs/lfw  # +72 min
  divcolor-train-features --config configs/lfw.py:cpu_skip      --workdir workdirs/lfw  # 20 min
  divcolor-train-mdn      --config configs/lfw.py:cpu_skip_long --workdir workdirs/lfw  # 11 min
  divcolor-train-joint    --config configs/lfw.py:cpu_joint     --workdir workdirs/lfw  # 57 min
  divcolor-evaluate-vae   --workdir workdirs/lfw --budget  # Tables 1-2, loss budget (val)
  divcolor-evaluate       --model workdirs/lfw             # Table 3 error budget (val)
  divcolor-export         --model workdirs/lfw --out saved_models/divcolor_lfw --version 4 \
                          --tflite dynamic

What it gives (validation split / ../shared/data/lfw/ci): Table 1 abs. error All 0.0349 /
0.0339; Table 3 error-of-best 0.0516 / 0.0495 (palette-5, photo-blind: 0.0545 / 0.0532),
variance 5.5e-3 / 5.3e-3, chroma ratio 0.90 / 0.94, spatial ratio 0.73 / 0.77. README.md, "The
bundled model", and docs/quality.md say what that means. Version 3 (no joint stage): Table 1
0.0396 / 0.0385, Table 3 0.0554 / 0.0540. Version 2 was ``cpu_skip`` alone (8 epochs, MDN 1/8
width): Table 1 0.0429 / 0.0419, Table 3 0.0565 / 0.0559. Version 1 was the ``cpu`` variant (plain
decoder, all loss terms): Table 1 0.0506, Table 3 0.0572 on the validation split. The paper's
LFW row (full width, GPU): Table 1 all terms .029 / .029 (All / Grid), Table 2 2.65 / 2.83,
Table 3 error-of-best .030, variance 1.1e-3.

The paper-sized config is the default (no variant). Variants after a colon, comma-separated: cpu
(sized for this CPU), cpu_skip, cpu_skip_long and cpu_joint (the bundled model), the study's
one-change variants (study, nomah, kl_low, kl_high, reflect, lr_high; bench/quality_study.py),
joint_plain (the joint stage on plain absolute error; docs/quality.md, section 8), joint_mid and
joint_trunk (square-root weights; the trunk fine-tuned too; section 9), tiny (test
twin on ../shared/data/lfw/ci), l2 / mah / all (Table 1-2 loss ablations), skip ("Ours+skip"),
authors (the authors' code's choices), e.g.
  --config configs/lfw.py:l2,tiny
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "lfw"
  c.data.train = config_lib.shared_data("lfw/train")
  return config_lib.apply_variants(c, arg, {"data.train": config_lib.shared_data("lfw/ci")})
