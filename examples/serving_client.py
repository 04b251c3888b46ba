r"""A TF Serving client for the exported divcolor model (REST and gRPC).

Serve the export (docs/deploy.md), then:

  python examples/serving_client.py --rest http://localhost:8501/v1/models/divcolor_lfw \
      --out colorized/ photo1.jpg photo2.png
  python examples/serving_client.py --grpc localhost:8500 --model_name divcolor_lfw \
      --out colorized/ photo1.jpg
  python examples/serving_client.py --dry_run --out requests/ photo1.jpg   # no server needed

Both send the photos' encoded bytes to the ``colorize_bytes`` signature (REST: base64 in
{"b64": ...}; gRPC: a DT_STRING [batch] tensor) and write the K colorizations it returns as
OUT/<stem>_<i>.png, i = 1..K in descending order of mixture weight, printing the weights.
``--signature serving_default`` sends decoded uint8 pixels instead (REST: nested lists; gRPC: a
DT_UINT8 [batch, height, width, 3] tensor; photos in one request must then share a size) and
writes the ``colorizations`` output.

``--dry_run`` builds the requests and saves them (OUT/rest_<signature>.json,
OUT/grpc_<signature>.pb) instead of sending them. The request builders are plain functions
(:func:`rest_body`, :func:`grpc_request`) for use in your own client. Needs numpy and Pillow;
gRPC also needs tensorflow-serving-api (``pip install divcolor_tf[deploy]``).
"""

import argparse
import base64
import io
import json
import os
import sys
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

SIGNATURES = ("colorize_bytes", "serving_default")


def read_photo(path):
  """(encoded bytes, uint8 RGB [H, W, 3]) of a photo file."""
  with open(path, "rb") as f:
    encoded = f.read()
  try:
    with Image.open(io.BytesIO(encoded)) as image:
      pixels = np.asarray(image.convert("RGB"))
  except OSError as e:
    raise ValueError(f"{path}: not a photo Pillow can read ({type(e).__name__})") from None
  return encoded, pixels


def rest_body(signature, photos):
  """The JSON body of a REST ``:predict`` request (row format, one instance per photo).

  Args:
    signature: "colorize_bytes" (photos: encoded bytes) or "serving_default" (photos: uint8
      [H, W, 3] arrays of one size).
    photos: list of bytes or arrays.

  Returns:
    dict, ready for ``json.dumps``.
  """
  if signature == "colorize_bytes":
    instances = [{"image_bytes": {"b64": base64.b64encode(p).decode("ascii")}} for p in photos]
  elif signature == "serving_default":
    instances = [{"image": np.asarray(p, np.uint8).tolist()} for p in photos]
  else:
    raise ValueError(f"signature must be one of {SIGNATURES}, got {signature!r}")
  return {"signature_name": signature, "instances": instances}


def grpc_request(model_name, signature, photos, version=None):
  """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for ``signature``.

  Args:
    model_name: the served model's name (TF Serving's MODEL_NAME).
    signature: "colorize_bytes" (photos: encoded bytes) or "serving_default" (photos: uint8
      arrays of one size, stacked into [batch, H, W, 3]).
    photos: list of bytes or arrays.
    version: optional model version.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  if version is not None:
    request.model_spec.version.value = int(version)
  if signature == "colorize_bytes":
    request.inputs["image_bytes"].CopyFrom(
        tf.make_tensor_proto(list(photos), dtype=tf.string, shape=[len(photos)]))
  elif signature == "serving_default":
    request.inputs["image"].CopyFrom(
        tf.make_tensor_proto(np.stack([np.asarray(p, np.uint8) for p in photos]),
                             dtype=tf.uint8))
  else:
    raise ValueError(f"signature must be one of {SIGNATURES}, got {signature!r}")
  return request


def _png_value(value):
  """One ``png_bytes`` element of a REST response: {"b64": ...} (TF Serving base64-encodes
  string outputs whose name ends in ``_bytes``)."""
  if not isinstance(value, dict) or "b64" not in value:
    raise ValueError("the server returned png_bytes as a plain string, not {\"b64\": ...}")
  return base64.b64decode(value["b64"])


def parse_rest(signature, response):
  """A REST response -> list (per photo) of (list of uint8 [H, W, 3] images, weights [K])."""
  results = []
  for prediction in response["predictions"]:
    if signature == "colorize_bytes":
      images = [np.asarray(Image.open(io.BytesIO(_png_value(v)))) for v in prediction["png_bytes"]]
    else:
      images = list(np.asarray(prediction["colorizations"], np.uint8))
    results.append((images, np.asarray(prediction["weights"], np.float32)))
  return results


def parse_grpc(signature, response):
  """A PredictResponse -> list (per photo) of (list of uint8 [H, W, 3] images, weights [K])."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  weights = tf.make_ndarray(response.outputs["weights"])
  if signature == "colorize_bytes":
    pngs = tf.make_ndarray(response.outputs["png_bytes"])
    images = [[np.asarray(Image.open(io.BytesIO(p))) for p in row] for row in pngs]
  else:
    images = [list(row) for row in tf.make_ndarray(response.outputs["colorizations"])]
  return list(zip(images, weights))


def send_rest(url, body, timeout=600):
  """POSTs ``body`` to ``url``:predict; returns the decoded JSON (raises on an HTTP error)."""
  request = urllib.request.Request(url.rstrip("/") + ":predict",
                                   data=json.dumps(body).encode("utf-8"),
                                   headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=timeout) as response:
    return json.loads(response.read())


def send_grpc(target, request, timeout=600):
  """Sends a PredictRequest to ``target`` (host:port, insecure channel); returns the response."""
  import grpc  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from tensorflow_serving.apis import prediction_service_pb2_grpc as service
  with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 2**30),
                                              ("grpc.max_send_message_length", 2**30)]) as channel:
    stub = service.PredictionServiceStub(channel)
    return stub.Predict(request, timeout=timeout)


SERVE_HINT = ("is TF Serving running and serving this model? e.g. docker run -p 8500:8500 -p "
              "8501:8501 -v $PWD/saved_models/divcolor_lfw:/models/divcolor_lfw -e "
              "MODEL_NAME=divcolor_lfw tensorflow/serving (docs/deploy.md)")


def describe_error(error, target):
  """One line for a failed request: what failed, the server's own message in full, and what to
  do when nothing answers at ``target``."""
  def flat(text):
    return " ".join(str(text).split())

  if isinstance(error, urllib.error.HTTPError):  # the server answered: its JSON {"error": ...}
    body = error.read().decode("utf-8", "replace")
    try:
      body = json.loads(body).get("error", body)
    except (ValueError, AttributeError):
      pass
    return f"{target}: HTTP {error.code}: {flat(body)}"
  if isinstance(error, urllib.error.URLError):  # nothing answered
    return f"{target}: cannot connect ({flat(error.reason)}); {SERVE_HINT}"
  code = getattr(error, "code", None)
  if callable(code) and hasattr(error, "details"):  # a grpc.RpcError
    name = getattr(code(), "name", str(code()))
    line = f"{target}: gRPC {name}: {flat(error.details())}"
    return f"{line}; {SERVE_HINT}" if name == "UNAVAILABLE" else line
  return f"{target}: {type(error).__name__}: {flat(error)}"


def write_results(out_dir, paths, results):
  """OUT/<stem>_<i>.png for each photo's colorizations; prints the weights. Returns the paths."""
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for path, (images, weights) in zip(paths, results):
    stem = os.path.splitext(os.path.basename(path))[0]
    for i, image in enumerate(images, start=1):
      written.append(os.path.join(out_dir, f"{stem}_{i}.png"))
      Image.fromarray(np.asarray(image, np.uint8)).save(written[-1])
    print(f"{path}: weights " + " ".join(f"{w:.3f}" for w in weights))
  return written


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("photos", nargs="+", help="JPEG/PNG photos")
  target = parser.add_mutually_exclusive_group(required=True)
  target.add_argument("--rest", help="REST model URL, e.g. http://localhost:8501/v1/models/NAME")
  target.add_argument("--grpc", help="gRPC host:port, e.g. localhost:8500")
  target.add_argument("--dry_run", action="store_true", help="save the requests, send nothing")
  parser.add_argument("--model_name", default="divcolor_lfw", help="served model name (gRPC)")
  parser.add_argument("--signature", default="colorize_bytes", choices=SIGNATURES)
  parser.add_argument("--out", required=True, help="output directory")
  args = parser.parse_args(argv)

  try:
    photos = [read_photo(p) for p in args.photos]
  except (OSError, ValueError) as e:
    print(f"serving_client: {' '.join(str(e).split())}", file=sys.stderr)
    return 1
  inputs = [p[0] if args.signature == "colorize_bytes" else p[1] for p in photos]
  if args.dry_run:
    os.makedirs(args.out, exist_ok=True)
    rest_path = os.path.join(args.out, f"rest_{args.signature}.json")
    with open(rest_path, "w") as f:
      json.dump(rest_body(args.signature, inputs), f)
    request = grpc_request(args.model_name, args.signature, inputs)
    grpc_path = os.path.join(args.out, f"grpc_{args.signature}.pb")
    with open(grpc_path, "wb") as f:
      f.write(request.SerializeToString())
    print(f"wrote {rest_path} and {grpc_path} ({len(inputs)} photo(s), signature "
          f"{args.signature})")
    return 0
  try:
    if args.rest:
      results = parse_rest(args.signature,
                           send_rest(args.rest, rest_body(args.signature, inputs)))
    else:
      results = parse_grpc(args.signature, send_grpc(
          args.grpc, grpc_request(args.model_name, args.signature, inputs)))
  except Exception as e:  # pylint: disable=broad-except  (network / server errors: one line)
    print(f"serving_client: {describe_error(e, args.rest or args.grpc)}", file=sys.stderr)
    return 1
  write_results(args.out, args.photos, results)
  return 0


if __name__ == "__main__":
  sys.exit(main())
