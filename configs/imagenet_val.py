r"""Everyday photos: the paper's ImageNet-Val domain, 64x64 colour fields.

The paper trains on ImageNet-Val (50,000 photos). Here the pool is Tiny-ImageNet's 40,400
training and 10,100 validation photos (../shared/data/tiny_imagenet_{train,val}, already 64x64,
the ImageNet domain, disjoint from ILSVRC-2012 validation), without their near-grey photos;
validation is a hash split of the pool (data.val_fraction), and
../shared/data/imagenet_val/ci (300 ILSVRC-2012 validation photos) the test split, read once for
the final model. The CPU recipe, stage by stage (each command resumes if interrupted):

  C="--config configs/imagenet_val.py:cpu_general --workdir workdirs/imagenet"
  divcolor-train-vae      $C --config.train.precision=mixed_bfloat16
  divcolor-train-features $C --config.train.precision=mixed_bfloat16
  divcolor-train-mdn      $C
  divcolor-train-joint    $C --config.train.precision=mixed_bfloat16
  divcolor-evaluate-vae   --workdir workdirs/imagenet                 # Tables 1-2 (validation)
  divcolor-evaluate       --model workdirs/imagenet                   # Table 3 (validation)
  divcolor-export --model workdirs/imagenet --out saved_models/divcolor_imagenet --version 1 \
      --weights float16 --noencoder --tflite dynamic    # then keep only the pipeline .tflite

These are the bundled general model's (saved_models/divcolor_imagenet/1; docs/quality.md
sections 20-21). Wall times on an Intel Xeon with AMX (bf16 units; on CPUs without them leave
out the precision flag, ~2-5x slower): the VAE 96 min (bf16 from the first step cost it a KL
spike and an epoch; train epoch 1 in float32 where time allows), the feature network 35 min
beside it (it needs only the VAE's stats.npz, written first), the MDN 15 min, the joint stage
4.6 min an epoch; ~2 h 35 of stage time, ~2 h wall. What they give: Table 1 abs. error 0.0369 on the validation
split with the joint stage's decoder (0.0402 on imagenet_val/ci; the paper's all-terms row
0.039); Table 3 error-of-best 0.0637 on validation (palette-5 0.0656) and 0.0640 on
imagenet_val/ci (palette-5 0.0629): level with five photo-blind colour fields, well short of the
paper's .041, and of issue 28's bar (10% below palette-5). Session 23's variant (one feature
epoch, the VAE's epoch 1 in float32, 6 epochs) reached 0.0630 on validation; a trainable trunk
in the joint stage did not help (0.0643; section 21).

The paper-sized config is the default (no variant). Variants after a colon: cpu_general (this
file's CPU recipe), cpu_general_v2 (issue 44's, with the pretrained grey trunk; the shipped version
2), cpu_general_v3 (v2 fine-tuned with the "+skip" decoder reading ImageNet maps: a study, level
with v2, not shipped), cpu_general_v4 (v3's decoder trained from scratch: a study in progress),
cpu_baselines (the paper's CVAE and cGAN on this pool), tiny (test twin on
../shared/data/imagenet_val/ci), the variants every config takes (cpu, cpu_skip, l2 / mah / all,
skip, authors: divcolor_tf.config.VARIANTS).
"""

from divcolor_tf import config as config_lib


def cpu_general(c):
  """The bundled general model's recipe: ``cpu_skip`` (half-width "+skip" VAE, quarter-width
  feature network) sized for a ~48,000-photo pool on 2 CPU cores. 5 VAE epochs, the last at a
  quarter of the rate (at 3 epochs the validation loss was still falling 20% an epoch,
  docs/quality.md section 15); the grey feature network at the photos' own 64x64 (G 8x8), 4
  epochs (its bin accuracy rose to epoch 3, section 20); a quarter-width MDN, 10 epochs (G and
  the posterior cached after the first); then the joint stage (not in the paper) as the LFW
  model's version 5 had it (``configs/lfw.py:cpu_joint_gap``): plain absolute error of the best
  decoded mean, held to the truth's chroma (0.5) and spatial variation (0.3), 2 epochs of 285
  steps of 16 photos (~9,000 photos, a fifth of the pool), validated after each."""
  config_lib.cpu_skip(c)
  c.vae.epochs = 5
  c.vae.lr_decay_epochs = (4,)
  c.data.grey_size = 64
  c.features.epochs = 4
  c.mdn.width = 0.25
  c.mdn.epochs = 10
  c.joint.update(weighted=False, chroma_factor=0.5, spatial_factor=0.3, steps_per_epoch=285,
                 epochs=2)


def cpu_general_v2(c):
  """Issue 44's recipe for the general model v2 (docs/quality.md section 23; not trained to the
  end yet): ``cpu_general``'s VAE, then EfficientNet-Lite0's ImageNet features (frozen, the
  ``pretrained`` extra; not in the paper) as the grey trunk in place of the Zhang-style network
  trained here: the photo's L squashed to 224x224 (ImageNet's size: Tiny-ImageNet's 64x64
  photos are upsampled, the test photos 227x227 barely resized), read at strides 16 and 32
  (7x7x432; the linear probe of section 23 put stride 32 at 224 first), cached for the MDN
  (computed once, read from memory after the first epoch), then the joint stage. The stages,
  each resumable (the VAE is cpu_general's: a workdir of that recipe serves as it is):

    C="--config configs/imagenet_val.py:cpu_general_v2 --workdir workdirs/imagenet_v2"
    divcolor-train-vae      $C      # ~2 h on 2 cores (AMD EPYC, float32); bf16 on AMX CPUs
    divcolor-train-features $C      # writes the pretrained trunk: nothing to train
    divcolor-train-mdn      $C
    divcolor-train-joint    $C
  """
  cpu_general(c)
  c.features.network = "efficientnet_lite0"
  c.features.endpoints = ("stride_16", "stride_32")
  c.data.grey_size = 224
  c.data.grey_detail = 64  # test photos read at the training photos' detail (quality.md 25)
  c.mdn.cache_features = True


def cpu_general_v3(c):
  """Issue 44 item 3b: ``cpu_general_v2`` with the "+skip" decoder also reading EfficientNet-Lite0's
  ImageNet maps (``vae.grey_trunk``; models/vae.py ``build_semantic_trunk``: frozen, strides 8, 16
  and 32 of the 64x64 L upsampled to 256, added to the grey encoder's 32, 16 and 8 maps through
  1x1 convolutions that start at zero). A fine-tune of a ``cpu_general_v2`` workdir (``init_from``
  on the VAE and MDN stages: the decoder starts as v2's, the new 1x1s at zero): the VAE 1 epoch
  at a quarter of v2's rate, the MDN 3 epochs, the joint stage 1 (v2's validation error-of-best was
  lowest after its first; ~30 min here with the validation, the decoder reading the trunk once for
  each of the 8 means it decodes):

    C="--config configs/imagenet_val.py:cpu_general_v3 --workdir workdirs/imagenet_v3"
    V2="--config.init_from=workdirs/imagenet_v2"
    divcolor-train-vae      $C $V2
    divcolor-train-features $C
    divcolor-train-mdn      $C $V2
    divcolor-train-joint    $C

  The outcome (docs/quality.md section 26): validation error-of-best 0.0606 (v2 0.0612), but on
  imagenet_val/ci level with v2 (0.0626 against 0.0625); not shipped.
  """
  cpu_general_v2(c)
  c.vae.grey_trunk = "efficientnet_lite0"
  c.vae.epochs = 1
  c.vae.lr_decay_epochs = ()
  c.vae.learning_rate = c.vae.learning_rate / 4
  c.mdn.epochs = 3
  c.joint.epochs = 1


def cpu_general_v4(c):
  """Issue 44: ``cpu_general_v2`` with the "+skip" decoder reading EfficientNet-Lite0's ImageNet
  maps (``vae.grey_trunk``, as ``cpu_general_v3``) from the VAE's first step, not as a fine-tune:
  section 26 found that v3's fine-tune kept v2's division of labour (the code carrying the
  layout); trained from scratch, the decoder can take what is where from the photo and leave z
  the colours the photo does not determine. v2's VAE schedule (5 epochs, the last at a quarter
  of the rate), v2's pretrained MDN trunk, 10 MDN epochs; the joint stage 1 epoch (~8 min: the
  grey path runs once per photo, ``models.vae.decode_each``). More than one session on 2 cores
  (the VAE ~2 h alone on an AMX Xeon in bf16); each stage resumes from its workdir. Measured in
  docs/quality.md section 28: 1.8% better than v2 on the validation split, 1% worse on
  imagenet_val/ci (0.0631 against 0.0625); not shipped.

    C="--config configs/imagenet_val.py:cpu_general_v4 --workdir workdirs/imagenet_v4"
    divcolor-train-vae      $C --config.train.precision=mixed_bfloat16
    divcolor-train-features $C
    divcolor-train-mdn      $C
    divcolor-train-joint    $C --config.train.precision=mixed_bfloat16
  """
  cpu_general_v2(c)
  c.vae.grey_trunk = "efficientnet_lite0"
  c.joint.epochs = 1


def cpu_baselines(c):
  """The paper's two baselines (Table 3) on this pool, at a stated budget (issue 28 item 5):
  ``configs/lfw.py:cpu_baselines``' networks (the CVAE and the cGAN at a quarter width, decoded
  examples cached in memory after the first epoch) on the photos' own 64x64, for a wall time
  well under Ours' recipe: the CVAE 1 epoch, the cGAN 3 (a pass costs it about a third of the
  CVAE's). Each trains in a workdir of its own:

    divcolor-train-cvae --config configs/imagenet_val.py:cpu_baselines --workdir workdirs/cvae_imagenet
    divcolor-train-cgan --config configs/imagenet_val.py:cpu_baselines --workdir workdirs/cgan_imagenet
  """
  config_lib.cpu(c)
  c.data.grey_size = 64
  c.data.cache = True
  c.cvae.width = 0.25
  c.cgan.width = 0.25
  c.cvae.epochs = 1
  c.cgan.epochs = 3


VARIANTS = {"cpu_general": cpu_general, "cpu_general_v2": cpu_general_v2,
            "cpu_general_v3": cpu_general_v3, "cpu_general_v4": cpu_general_v4,
            "cpu_baselines": cpu_baselines}


def get_config(arg=None):
  c = config_lib.base_config()
  c.dataset = "imagenet_val"
  c.data.train = config_lib.shared_source("tiny_imagenet_*/**/*.JPEG")
  return config_lib.apply_variants(
      c, arg, {"data.train": config_lib.shared_source("imagenet_val/ci"), "data.val_fraction": 0.2},
      variants=VARIANTS)
