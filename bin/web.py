"""divcolor-web: a local page to look at, sample, blend and steer a photo's colorizations.

  divcolor-web                      # the general model, at http://127.0.0.1:7860/
  divcolor-web --model lfw --port 8000

Upload or drop a photo (or pick one of scikit-image's: chelsea, coffee, rocket, astronaut), see
its grey input and its k colorizations with their mixture weights; "More like #i" draws codes
near output i; the slider blends two outputs' codes through the decoder; a click on the grey
photo adds a colour hint (the colour picker's), and the k outputs are steered to honour every
hint; each output downloads as a PNG at the photo's full resolution. The page is served from
this machine alone (no CDN, no fonts from elsewhere) and binds 127.0.0.1 unless --host says
otherwise. Uploads are kept in memory only (never written to disk), the last 8 photos at most.
Needs the [web] extra: pip install -e ".[web]" -c constraints.txt.
"""

import sys

from absl import app
from absl import flags

from divcolor_tf.bin import cli

flags.DEFINE_string("model", "imagenet", "A bundled model's name: imagenet (everyday photos, "
                    "the default) or lfw (faces); a model directory or an exported SavedModel "
                    "of ours (the steering needs a mixture: not a baseline).")
flags.DEFINE_string("host", "127.0.0.1", "The address to listen on (127.0.0.1: this machine "
                    "only).")
flags.DEFINE_integer("port", 7860, "The port (0: a free one, printed).")
flags.DEFINE_integer("k", 5, "Colorizations shown: the top-k means by mixture weight.")
flags.DEFINE_float("max_megapixels", None, "The largest photo accepted, in megapixels (default: "
                   "the library's, 64); a larger one is refused in one line on the page.")
flags.DEFINE_bool("trust_model", False, "Run an export's ops even if not ours (docs/deploy.md).")
FLAGS = flags.FLAGS

PROG = "divcolor-web"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from divcolor_tf.inference import bundled  # pylint: disable=g-import-not-at-top  (no TF)
  problem = bundled.model_problem(FLAGS.model)
  components = bundled.export_components(FLAGS.model)
  if not problem and (FLAGS.k < 1 or components and FLAGS.k > components):
    problem = f"--k {FLAGS.k}: must be in [1, {components or 'the mixture components'}]"
  if not problem and not 0 <= FLAGS.port <= 65535:
    problem = f"--port {FLAGS.port}: must be in [0, 65535] (0: a free one)"
  import importlib.util  # pylint: disable=g-import-not-at-top
  missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
  if missing and not problem:
    problem = (f"needs the [web] extra ({', '.join(missing)} missing): "
               "pip install -e \".[web]\" -c constraints.txt")
  if problem:
    cli.error(PROG, problem)
    sys.exit(1)
  import divcolor_tf as dc  # pylint: disable=g-import-not-at-top
  from divcolor_tf.web import server  # pylint: disable=g-import-not-at-top
  settings = {} if FLAGS.max_megapixels is None else {"max_megapixels": FLAGS.max_megapixels}
  try:
    colorizer = dc.load(FLAGS.model, trust=FLAGS.trust_model, **settings)
    app_ = server.make_app(colorizer, k=FLAGS.k)
  except ValueError as e:
    cli.error(PROG, e)
    sys.exit(1)
  try:
    server.serve(app_, FLAGS.host, FLAGS.port,
                 ready=lambda url: print(f"{PROG}: serving {FLAGS.model} at {url} (Ctrl-C stops)",
                                         flush=True))
  except OSError as e:
    cli.error(PROG, f"{FLAGS.host}:{FLAGS.port}: {e.strerror or e}")
    sys.exit(1)


def run():
  cli.run(main, __name__, __doc__)


if __name__ == "__main__":
  run()
