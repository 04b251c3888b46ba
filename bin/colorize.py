r"""divcolor-colorize: diverse colorizations of photos, at their own size (paper Section 4).

  divcolor-colorize --input photos/ --output colorized/ --k 5 --grid
  divcolor-colorize --model lfw --input faces/ --output colorized/   # the faces model

Without --model, the bundled general model (saved_models/divcolor_imagenet, everyday photos)
colorizes; --model lfw names the bundled faces model, and a training workdir or an export works
by its path.

For each photo, writes OUTPUT/<stem>_<i>.png (--format: .jpg, .webp), i = 1..K: the top-K means
of the mixture by weight, each decoded and joined with the photo's own full-resolution lightness
(a colour photo is reduced to it first). --samples N draws N codes from the mixture instead
(reproducible with --seed; not with --k). --grid adds <stem>_grid.png: the grey input beside its
K colorizations, titled with their weights. Subfolders of --input are kept under --output.

Videos (.mp4 .m4v .mov .mkv .avi .webm, and raw H.264 .264 .h264; needs the [video] extra,
PyAV): a clip, or the clips of a folder beside its photos, gets OUTPUT/<stem>_1.mp4 ..
<stem>_K.mp4 at its own size and frame rate (audio copied), each version steady in time: one
mixture per shot (cuts found from the grey frames), version i the same code for every frame of a
shot, so only the frame's lightness changes its colours (divcolor_tf.video.steady). --grid adds
<stem>_grid.mp4, the grey input beside the K versions, downscaled. Not with --samples. Every frame
keeps its timestamp (a variable frame rate stays one); frames over 9 megapixels (4K fits) are one
line (--max_megapixels). --input may be a list file or a glob of photos and clips; an --output
folder inside the --input folder is not read as input.

Photos whose names differ only by extension (face.jpg, face.png) get face_jpg_<i>.png and
face_png_<i>.png. Every file appears under its name only complete (a hidden temporary, then a
rename), one run at a time per photo. Existing outputs are never replaced without --overwrite: a
photo whose files are all there is skipped, one with only some of them is a one-line error.
--skip_existing resumes a folder run: complete sets (every file decodes, at the right size) are
skipped, incomplete or corrupt ones redone. A photo or video that cannot be read or written is one
line and the others go on; the exit status is 1 only then. Flags are checked before TensorFlow
starts: a --k out of the model's range, a --model that names nothing, a missing --input are each
one line at once.
"""

import os
import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli
from divcolor_tf.inference import outputs  # (no TensorFlow: its formats name the flags' values)

flags.DEFINE_string("model", "imagenet", "A bundled model's name: imagenet (everyday photos, "
                    "the default) or lfw (faces); a model directory (divcolor-train-vae, "
                    "-features, -mdn) or an exported SavedModel (divcolor-export).")
flags.DEFINE_string("input", None, "A photo, a directory (searched recursively), a list file "
                    "or a glob.")
flags.DEFINE_string("output", None, "Where the colorizations go (created if missing).")
flags.DEFINE_integer("k", 5, "Colorizations per photo: the top-k means by mixture weight.")
flags.DEFINE_integer("samples", 0, "Instead of the top-k means, draw this many embeddings from "
                     "the mixture (0: top-k); not with --k.")
flags.DEFINE_integer("seed", None, "Seed of --samples (default: a fresh one, printed).")
flags.DEFINE_bool("grid", False, "Also write <stem>_grid.png: grey input and its colorizations.")
flags.DEFINE_enum("format", "png", list(outputs.FORMATS), "Of the colorizations (a grid: png).")
flags.DEFINE_integer("quality", None, f"Of --format jpg or webp, 1..100 (default: "
                     f"{outputs.DEFAULT_QUALITY}).")
flags.DEFINE_bool("overwrite", False, "Replace existing output files.")
flags.DEFINE_bool("skip_existing", False, "Resume a folder run: skip photos whose outputs are "
                  "all there and decode; colorize the others again (replacing incomplete or "
                  "corrupt sets).")
flags.DEFINE_float("max_megapixels", None, "The largest photo colorized, in megapixels "
                   "(default: the library's, divcolor_tf.inference.fullres.MAX_MEGAPIXELS = 64); a "
                   "larger one is a one-line error naming it. 0: no limit. A video's frame: "
                   "default 9 (4K; divcolor_tf.video.frames.MAX_FRAME_MEGAPIXELS).")
flags.DEFINE_float("temporal", 0.95, "Of a video: the memory of the temporal filter that holds "
                   "each version's colours where the frame's lightness did not change, in [0, 1) "
                   "(0: off; docs/quality.md section 24).")
flags.DEFINE_bool("trust_model", False, "Run an export's ops even if not ours (docs/deploy.md).")
flags.mark_flags_as_required(["input", "output"])
FLAGS = flags.FLAGS

PROG = "divcolor-colorize"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if FLAGS.samples < 0:
    raise app.UsageError("--samples must be >= 0")
  # The flags first, without TensorFlow: a mistyped flag is answered at once.
  from divcolor_tf.inference import bundled  # pylint: disable=g-import-not-at-top
  problem = (_samples_and_k_problem() or _quality_problem() or _temporal_problem()
             or bundled.model_problem(FLAGS.model)
             or _k_problem(bundled.export_components(FLAGS.model)))
  if problem:
    cli.error(PROG, problem)
    sys.exit(1)
  try:
    paths, videos = _inputs(FLAGS.input, FLAGS.output)
  except (ValueError, FileNotFoundError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  from divcolor_tf import colorize  # pylint: disable=g-import-not-at-top
  from divcolor_tf.io import progress  # pylint: disable=g-import-not-at-top

  try:
    colorizer = colorize.load(FLAGS.model, max_megapixels=FLAGS.max_megapixels,
                               trust=FLAGS.trust_model)
  except (ValueError, FileNotFoundError) as e:
    cli.error(PROG, e)
    sys.exit(1)
  problem = _k_problem(colorizer.num_components)  # a workdir's, known once it is loaded
  if problem:
    cli.error(PROG, problem)
    sys.exit(1)
  bar = progress.Progress(len(paths) + len(videos), unit="files" if videos else "photos")
  on_error = lambda message: bar.write(cli.one_line(PROG, message))
  try:
    with bar:
      summary = outputs.colorize_photos(
          colorizer, paths, FLAGS.output, input_root=FLAGS.input, k=FLAGS.k,
          samples=FLAGS.samples, seed=FLAGS.seed, grid=FLAGS.grid, overwrite=FLAGS.overwrite,
          skip_existing=FLAGS.skip_existing, on_error=on_error, progress=bar,
          format=FLAGS.format, quality=FLAGS.quality or outputs.DEFAULT_QUALITY)
      clips = _colorize_videos(colorizer, videos, on_error, bar)
  except ValueError as e:  # two photos would write the same files: nothing written
    cli.error(PROG, e)
    sys.exit(1)
  skipped = ""
  if summary.skipped:
    why = ("outputs exist; --overwrite replaces them, --skip_existing checks them"
           if summary.existing == summary.skipped else "already complete")
    skipped = f"; {summary.skipped} skipped ({why})"
  done = f"{summary.done} of {summary.total} photo(s) ({summary.mode})"
  if clips:
    videos_done = (f"{clips.done} of {clips.total} video(s) (top-{FLAGS.k} means of each shot, "
                   "steady)" + (f", {clips.skipped} skipped (already complete)"
                                if clips.skipped else ""))
    done = f"{done}; {videos_done}" if summary.total else videos_done
  failed = len(summary.failed) + (len(clips.failed) if clips else 0)
  print(f"{PROG}: colorized {done} with {FLAGS.model} into {FLAGS.output}{skipped}; "
        f"{failed} failed")
  sys.exit(0 if not failed else 1)


def _inputs(source, output):
  """(photos, videos) of --input: a video file is a video; a folder gives both (a folder of
  videos alone has no photos), without what lies in ``output`` when it is a folder inside it (a
  rerun does not colorize its own outputs); a list file or a glob gives its entries, a video or a
  photo each by its extension (a missing or bad entry is one line when its turn comes, the
  others run); anything else is data.list_images'."""
  from divcolor_tf import data  # pylint: disable=g-import-not-at-top
  from divcolor_tf.video import frames  # pylint: disable=g-import-not-at-top  (no TF, no av yet)
  resolved = data.resolve_source(source)
  if os.path.isdir(resolved):
    videos = frames.list_videos(resolved)
    try:
      photos = data.list_images(source)
    except data.DataPathError:
      if not videos:
        raise
      photos = []
    inside = _folder_inside(output, resolved)
    if inside:
      photos, videos = ([p for p in found if not _folder_inside(p, inside)]
                        for found in (photos, videos))
      if not photos and not videos:
        raise data.DataPathError(f"{data.display_path(source)}: no photos or videos outside "
                                 f"--output {data.display_path(output)}, which is inside it")
    return photos, videos
  if frames.is_video(resolved) and os.path.isfile(resolved):
    return [], [resolved]
  entries = data.list_images(source)
  return ([p for p in entries if not frames.is_video(p)],
          [p for p in entries if frames.is_video(p)])


def _folder_inside(path, folder):
  """``path``'s real path when it lies strictly inside ``folder`` (symlinks resolved), else
  None."""
  real, top = os.path.realpath(path), os.path.realpath(folder)
  return real if real != top and os.path.commonpath([real, top]) == top else None


def _colorize_videos(colorizer, videos, on_error, bar):
  """The videos' run (divcolor_tf.video.run), or None without videos."""
  if not videos:
    return None
  from divcolor_tf.video import run as video_run  # pylint: disable=g-import-not-at-top
  if FLAGS.samples:
    on_error(f"{len(videos)} video(s) not colorized: --samples is for photos (a video's versions "
             "are each shot's top-k means)")
    bar.update(len(videos))
    return video_run.Summary(len(videos), 0, 0, list(videos))
  return video_run.colorize_videos(
      colorizer, videos, FLAGS.output, input_root=FLAGS.input, k=FLAGS.k, grid=FLAGS.grid,
      overwrite=FLAGS.overwrite, skip_existing=FLAGS.skip_existing, on_error=on_error,
      progress=bar, max_megapixels=FLAGS.max_megapixels, temporal=FLAGS.temporal)


def _samples_and_k_problem():
  """--samples replaces the top-k means: both given, one would be ignored."""
  if FLAGS.samples and FLAGS["k"].present:
    return (f"--k {FLAGS.k} and --samples {FLAGS.samples}: give one of them (--k: the top-k means "
            "by mixture weight; --samples: that many draws from the mixture)")
  return None


def _temporal_problem():
  """--temporal is a filter's memory: 1 or more would never let a colour change."""
  if not 0 <= FLAGS.temporal < 1:
    return f"--temporal must be in [0, 1) (0: off), got {FLAGS.temporal}"
  return None


def _quality_problem():
  """--quality is JPEG's and WebP's: with a PNG (lossless) it would be ignored."""
  if FLAGS.quality is None:
    return None
  if FLAGS.format == "png":
    return (f"--quality {FLAGS.quality} is for --format jpg or webp (a PNG is lossless); add "
            "--format jpg or leave --quality out")
  if not 1 <= FLAGS.quality <= 100:
    return f"--quality must be in [1, 100], got {FLAGS.quality}"
  return None


def _k_problem(components):
  """--k against a mixture of ``components`` (cli.k_problem); --samples replaces --k."""
  if FLAGS.samples:
    return None
  return cli.k_problem(FLAGS.k, components, what="the mixture's components")


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
