r"""Everyday photos: the paper's ImageNet-Val domain, 64x64 colour fields.

The paper trains on ImageNet-Val (50,000 photos). Here the pool is Tiny-ImageNet's 40,400
training and 10,100 validation photos (../shared/data/tiny_imagenet_{train,val}, already 64x64,
the ImageNet domain, disjoint from ILSVRC-2012 validation), without their near-grey photos;
validation is a hash split of the pool (data.val_fraction), and
../shared/data/imagenet_val/ci (300 ILSVRC-2012 validation photos) the test split, read once for
the final model. The CPU recipe, stage by stage (each command resumes if interrupted):

  divcolor-train-vae      --config configs/imagenet_val.py:cpu_general --workdir workdirs/imagenet
  divcolor-train-features --config configs/imagenet_val.py:cpu_general --workdir workdirs/imagenet
  divcolor-train-mdn      --config configs/imagenet_val.py:cpu_general --workdir workdirs/imagenet
  divcolor-train-joint    --config configs/imagenet_val.py:cpu_general --workdir workdirs/imagenet
  divcolor-evaluate-vae   --workdir workdirs/imagenet                 # Tables 1-2 (validation)
  divcolor-evaluate       --model workdirs/imagenet                   # Table 3 (validation)

Wall times on an Intel Xeon with AMX (docs/quality.md, section 19): the VAE ~26 min an epoch in
float32, ~11.6 with ``--config.train.precision=mixed_bfloat16`` (2.2x; on CPUs without bf16
units keep float32), so 6 epochs take ~2 h 40 in float32 or ~1 h 10 in bf16; the feature network
7 min; the MDN 10 min; the joint stage ~19 min an epoch of 285 steps, validation included. What
they give on the validation split (section 19): Tables 1-2 abs. error 0.0361 after the VAE (the
paper's all-terms row 0.039); Table 3 error-of-best 0.0652 before the joint stage, level with
the photo-blind palette-5 (0.0656). Not yet the bundled general model (issue 28).

Session 24 (section 20; a slower machine of the same kind) ran every stage from scratch with the
VAE, the feature network and the joint stage in bf16 (``--config.train.precision=
mixed_bfloat16``), the VAE cut to 5 epochs, the feature network at 4 and the MDN at 10: the VAE
96 min (bf16 from the first step lost an epoch to a KL spike: Table 1 0.0395, so train epoch 1
in float32 where time allows), the feature network 35 min beside it, the MDN 15 min, and the
joint stage 4.6 min an epoch in bf16 (5x its float32 step), whose validation error-of-best
stopped at 0.0638 after 2 epochs (the bar 0.059).

The paper-sized config is the default (no variant). Variants after a colon: cpu_general (this
file's CPU recipe), tiny (test twin on ../shared/data/imagenet_val/ci), the variants every config
takes (cpu, cpu_skip, l2 / mah / all, skip, authors: divcolor_tf.config.VARIANTS).
"""

from divcolor_tf import config as config_lib


def cpu_general(c):
  """``cpu_skip`` (half-width "+skip" VAE, quarter-width feature network, 1/8-width MDN) sized for
  a ~48,000-photo pool on 2 CPU cores: 6 VAE epochs (the last 2 at a quarter of the rate; at 3
  epochs the validation loss was still falling 20% an epoch, docs/quality.md section 15), the
  grey feature network at the photos' own 64x64 (G 8x8), 1 epoch, and a quarter-width MDN (6
  epochs; its G and posterior cached after the first), then the joint stage (not in the paper) as
  the LFW model's version 5 had it (``configs/lfw.py:cpu_joint_gap``): plain absolute error of the
  best decoded mean, held to the truth's chroma (0.5) and spatial variation (0.3), 2 epochs of 285
  steps of 16 photos (~9,000 photos, a fifth of the pool), validated after each."""
  config_lib.cpu_skip(c)
  c.train.epochs = 6
  c.train.lr_decay_epochs = (4,)
  c.data.grey_size = 64
  c.features.epochs = 1
  c.mdn.width = 0.25
  c.mdn.epochs = 6
  c.joint.update(weighted=False, chroma_factor=0.5, spatial_factor=0.3, steps_per_epoch=285,
                 epochs=2)


VARIANTS = {"cpu_general": cpu_general}


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "imagenet_val"
  c.data.train = config_lib.shared_source("tiny_imagenet_*/**/*.JPEG")
  return config_lib.apply_variants(
      c, arg, {"data.train": config_lib.shared_source("imagenet_val/ci"), "data.val_fraction": 0.2},
      variants=VARIANTS)
