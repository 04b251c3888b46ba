r"""LFW faces (the paper's first domain), 64x64 colour fields.

The bundled model (saved_models/divcolor_lfw, version 5) is this file's ``cpu_skip`` variant
resumed under ``cpu_skip_long`` (version 3), then the joint stage of ``cpu_joint`` (version 4;
this project's addition, not in the paper: the MDN and the decoder fine-tuned together on the
colour error of the best decoded mean), then the joint stage again, half an epoch of
``cpu_joint_gap`` on version 4's models (plain error, the best mean held to the truth's chroma
and spatial variation). Trained from the repository root, stage by stage (each command resumes
if interrupted; about 5 h 10 min in all on 2 CPU cores, most stages sharing the CPU with other
jobs; ~8 min per VAE epoch alone):

  divcolor-train-vae      --config configs/lfw.py:cpu_skip      --workdir workdirs/lfw  # 78 min
  divcolor-train-vae      --config configs/lfw.py:cpu_skip_long --workdir workdirs/lfw  # +72 min
  divcolor-train-features --config configs/lfw.py:cpu_skip      --workdir workdirs/lfw  # 20 min
  divcolor-train-mdn      --config configs/lfw.py:cpu_skip_long --workdir workdirs/lfw  # 11 min
  divcolor-train-joint    --config configs/lfw.py:cpu_joint     --workdir workdirs/lfw  # 57 min
  divcolor-export         --model workdirs/lfw --out workdirs/lfw_v4 --version 4  # version 4
  python -c "from divcolor_tf import exported; exported.unpack('workdirs/lfw_v4', 'workdirs/lfw5')"
  divcolor-train-joint    --config configs/lfw.py:cpu_joint_gap --workdir workdirs/lfw5  # 62 min
  divcolor-evaluate-vae   --workdir workdirs/lfw5 --budget  # Tables 1-2, loss budget (val)
  divcolor-evaluate       --model workdirs/lfw5             # Table 3 error budget (val)
  divcolor-export         --model workdirs/lfw5 --out saved_models/divcolor_lfw --version 5 \
                          --tflite dynamic

What it gives (validation split / ../shared/data/lfw/ci): Table 1 abs. error All 0.0315 /
0.0306; Table 3 error-of-best 0.0499 / 0.0485 (palette-5, photo-blind: 0.0545 / 0.0532),
variance 4.3e-3 / 4.0e-3, chroma ratio 0.87 / 0.89, spatial ratio 0.80 / 0.84. README.md, "The
bundled model", and docs/quality.md say what that means. Version 4 (``cpu_joint``): Table 1
0.0349 / 0.0339, Table 3 0.0516 / 0.0495, chroma 0.90 / 0.94, spatial 0.73 / 0.77. Version 3
(no joint stage): Table 1 0.0396 / 0.0385, Table 3 0.0554 / 0.0540. Version 2 was ``cpu_skip``
alone (8 epochs, MDN 1/8 width): Table 1 0.0429 / 0.0419, Table 3 0.0565 / 0.0559. Version 1 was
the ``cpu`` variant (plain decoder, all loss terms): Table 1 0.0506, Table 3 0.0572 on the
validation split. The paper's LFW row (full width, GPU): Table 1 all terms .029 / .029 (All /
Grid), Table 2 2.65 / 2.83, Table 3 error-of-best .030, variance 1.1e-3.

The paper-sized config is the default (no variant). Variants after a colon, comma-separated: cpu
(sized for this CPU), cpu_skip, cpu_skip_long, cpu_joint and cpu_joint_gap (the bundled model),
the study's one-change variants (study, nomah, kl_low, kl_high, reflect, lr_high;
bench/quality_study.py), joint_plain (the joint stage on plain absolute error; docs/quality.md,
section 8), joint_mid and joint_trunk (square-root weights; the trunk fine-tuned too; section
9), joint_gap, joint_gap3 and joint_gap5 (the best mean held to the truth's chroma and spatial
variation; sections 10-11), tiny (test twin on ../shared/data/lfw/ci), l2 / mah / all (Table 1-2
loss ablations), skip ("Ours+skip"), authors (the authors' code's choices), e.g.
  --config configs/lfw.py:l2,tiny
"""

from divcolor_tf import config as config_lib


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "lfw"
  c.data.train = config_lib.shared_data("lfw/train")
  return config_lib.apply_variants(c, arg, {"data.train": config_lib.shared_data("lfw/ci")})
