"""Video colorization (divcolor_tf/video, issue 46): k steady versions of a clip, its shots,
its files (complete before they are named), and divcolor-colorize on a folder of clips and
photos. Clips are a dozen frames of the shared carphone_qcif.mp4 (or of a moving photo without
../shared/data); the colorizer is the tiny untrained one of conftest, except the one command-line
run, which uses the bundled model."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

from conftest import ROOT, SHARED_DATA, console_script, tool_env

av = pytest.importorskip("av", reason="PyAV is not installed: pip install -e '.[video]'")

from divcolor_tf.io import atomic  # pylint: disable=g-import-not-at-top,wrong-import-position
from divcolor_tf.video import frames  # pylint: disable=g-import-not-at-top,wrong-import-position
from divcolor_tf.video import run as video_run  # pylint: disable=g-import-not-at-top,wrong-import-position
from divcolor_tf.video import steady  # pylint: disable=g-import-not-at-top,wrong-import-position

VIDEO = SHARED_DATA / "video"
FRAMES = 10
RATE = 25


def _source_frames(count, offset=0):
  """``count`` real frames (carphone_qcif.mp4), or a photo sliding sideways without it."""
  clip = VIDEO / "carphone_qcif.mp4"
  if clip.exists():
    out = []
    for i, rgb in enumerate(frames.rgb_frames(clip)):
      if i >= offset:
        out.append(rgb)
      if len(out) == count:
        return out
  import skimage  # pylint: disable=g-import-not-at-top
  photo = skimage.data.chelsea()[:144, :300]
  return [np.ascontiguousarray(photo[:, 2 * (i + offset):2 * (i + offset) + 176])
          for i in range(count)]


def write_clip(path, rgb_frames, audio=False):
  """An H.264 MP4 of ``rgb_frames`` at RATE fps (with a second of AAC tone when ``audio``)."""
  container = av.open(str(path), "w", format="mp4")
  stream = container.add_stream("libx264", rate=RATE)
  stream.height, stream.width = rgb_frames[0].shape[:2]
  stream.pix_fmt = "yuv420p"
  sound = container.add_stream("aac", rate=44100) if audio else None
  for i, rgb in enumerate(rgb_frames):
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = i
    container.mux(stream.encode(frame))
  container.mux(stream.encode(None))
  if sound is not None:
    t = np.arange(44100 // 2) / 44100
    for start in range(0, len(t), 1024):
      chunk = (0.2 * np.sin(2 * np.pi * 440 * t[start:start + 1024])).astype(np.float32)[None]
      frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
      frame.sample_rate, frame.pts = 44100, start
      container.mux(sound.encode(frame))
    container.mux(sound.encode(None))
  container.close()
  return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
  """FRAMES frames of one shot, with audio."""
  return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", _source_frames(FRAMES),
                    audio=True)


@pytest.fixture(scope="module")
def result(colorizer, clip, tmp_path_factory):
  out = tmp_path_factory.mktemp("out")
  plan = steady.colorize_video(colorizer, str(clip), str(out), k=3, grid=True)
  return plan, out


def test_k_videos_with_the_inputs_frames_size_rate_and_audio(result):
  plan, out = result
  names = sorted(os.listdir(out))
  assert names == ["clip_1.mp4", "clip_2.mp4", "clip_3.mp4", "clip_grid.mp4"]
  for name in names[:3]:
    info = frames.probe(out / name)
    assert (info.width, info.height, info.rate, info.frames) == (176, 144, RATE, FRAMES)
    assert info.audio  # copied from the clip
    assert sum(1 for _ in frames.rgb_frames(out / name)) == FRAMES
  grid = frames.probe(out / "clip_grid.mp4")
  assert grid.frames == FRAMES and grid.width == 4 * 176 and grid.height == 144
  assert plan.starts == [0] and plan.codes.shape[:2] == (1, 3)
  assert np.all(np.diff(plan.weights[0]) <= 0)  # versions by the shot's weight


def test_a_version_changes_within_a_shot_only_through_lightness(colorizer, clip):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  plan = steady.plan(colorizer, str(clip), k=2)
  fields = []
  for _, rgb, out in steady.steady_frames(colorizer, str(clip), plan, temporal=0):
    np.testing.assert_array_equal(out.z, plan.codes[0])  # the same codes in every frame
    _, _, field = steady._lightness(colorizer, rgb)  # pylint: disable=protected-access
    want = colorizer.decode(tf.constant(plan.codes[0][None]), field)[0]
    np.testing.assert_array_equal(out.ab, want)  # filter off: the frame's own decode, exactly
    fields.append(out.ab)
  steady_change = np.mean([np.abs(a - b).mean() for a, b in zip(fields, fields[1:])])
  # per-frame colorization of the same frames moves at least as much
  alone = [colorizer.colorize(rgb, k=1).ab[0] for rgb in frames.rgb_frames(clip)]
  alone_change = np.mean([np.abs(a - b).mean() for a, b in zip(alone, alone[1:])])
  assert steady_change <= alone_change + 1e-6


class _ReadsLightness:
  """The tiny colorizer with a decoder whose field follows the 64x64 lightness it reads, as the
  trained "+skip" decoders' do (the untrained tiny one's barely moves with it): each pixel's own
  lightness, and a little of the whole frame's (a change anywhere shifts the field everywhere)."""

  def __init__(self, colorizer):
    self._colorizer = colorizer

  def __getattr__(self, name):
    return getattr(self._colorizer, name)

  def decode(self, z, field_lightness):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    per_frame = field_lightness[:, None]  # [B, 1, F, F, 1] beside the fields [B, k, F, F, 2]
    return (self._colorizer.decode(z, field_lightness) + 0.004 * (per_frame - 50)
            + 0.01 * (tf.reduce_mean(per_frame, axis=[2, 3, 4], keepdims=True) - 50))


def _fields(colorizer, clip, plan, temporal):
  """[(field lightness [F, F], fields [k, F, F, 2])] of pass 2 with the filter at ``temporal``."""
  return [(np.asarray(photo.field_lightness)[0, ..., 0], np.asarray(fields))
          for _, _, photo, fields in steady._steady_fields(  # pylint: disable=protected-access
              colorizer, str(clip), plan, 0, temporal)]


def test_the_temporal_filter_holds_still_pixels_and_follows_changed_ones(colorizer, clip):
  colorizer = _ReadsLightness(colorizer)
  plan = steady.plan(colorizer, str(clip), k=2)
  raw = _fields(colorizer, clip, plan, 0)
  held = _fields(colorizer, clip, plan, 0.8)
  assert len(held) == FRAMES
  np.testing.assert_array_equal(held[0][1], raw[0][1])  # a shot's first frame: its own decode
  tau = steady.TEMPORAL_TAU
  counts, moves = [0, 0], [[], []]
  for t in range(1, FRAMES):
    change = np.abs(raw[t][0] - raw[t - 1][0])  # the 64x64 lightness's change
    np.testing.assert_array_equal(held[t][0], raw[t][0])
    still, moved = change < 0.1 * tau, change >= tau
    counts[0] += still.sum()
    counts[1] += moved.sum()
    step = np.abs(held[t][1] - held[t - 1][1])  # [k, F, F, 2]
    jump = np.abs(raw[t][1] - held[t - 1][1])  # what taking the new decode would move
    # still pixels: at most (1 - 0.8 * 0.9) of the new decode's jump; moved ones: the decode
    assert np.all(step[:, still] <= 0.28 * jump[:, still] + 1e-6)
    np.testing.assert_allclose(held[t][1][:, moved], raw[t][1][:, moved], atol=1e-6)
    moves[0].append(step[:, still].mean())
    moves[1].append(np.abs(raw[t][1] - raw[t - 1][1])[:, still].mean())
  assert counts[0] > 1000 and counts[1] > 10, counts  # both kinds of pixel were tested
  # still pixels move much less from frame to frame than the decode alone moves them
  assert 0 < np.mean(moves[0]) < 0.5 * np.mean(moves[1]), moves
  assert all(np.array_equal(a[1], b[1])  # deterministic
             for a, b in zip(held, _fields(colorizer, clip, plan, 0.8)))


def test_the_command_lines_temporal_default_is_the_librarys():
  """bin/colorize.py checks its flags before TensorFlow loads, so it cannot import steady: its
  --temporal default is a literal, held here to steady.TEMPORAL."""
  import re  # pylint: disable=g-import-not-at-top
  source = (ROOT / "bin" / "colorize.py").read_text()
  default = re.search(r'DEFINE_float\("temporal", ([0-9.]+)', source)
  assert default and float(default.group(1)) == steady.TEMPORAL


def test_the_temporal_filter_forgets_at_a_shot_start(colorizer, clip):
  colorizer = _ReadsLightness(colorizer)
  one = steady.plan(colorizer, str(clip), k=2)
  # the same codes in a second "shot" from frame 5: only the reset tells the two plans apart
  two = one._replace(starts=[0, 5], **{name: np.concatenate([getattr(one, name)] * 2) for name in
                                       ("codes", "components", "weights", "means", "logits")})
  raw = _fields(colorizer, clip, two, 0)
  kept, reset = _fields(colorizer, clip, one, 0.8), _fields(colorizer, clip, two, 0.8)
  np.testing.assert_array_equal(reset[5][1], raw[5][1])  # the new shot's own decode
  assert np.abs(kept[5][1] - raw[5][1]).max() > 1e-3  # without the cut it would have blended
  np.testing.assert_array_equal(reset[4][1], kept[4][1])  # before the cut, the same
  assert np.abs(reset[6][1] - raw[6][1]).max() > 1e-3  # after it, filtered again


def test_the_temporal_filter_refuses_a_bad_memory(colorizer, clip):
  for bad in (-0.1, 1.0, 2, True):
    with pytest.raises(ValueError, match="temporal must be in"):
      steady.colorize_video(colorizer, str(clip), "unused", k=2, temporal=bad)


def test_a_cut_starts_a_shot_with_its_own_codes(colorizer, tmp_path):
  first = _source_frames(5)
  second = [np.ascontiguousarray(255 - f[::-1]) for f in first]  # another "scene": a hard cut
  path = write_clip(tmp_path / "cut.mp4", first + second)
  plan = steady.plan(colorizer, str(path), k=2)
  assert plan.starts == [0, 5] and plan.frames == 10
  assert plan.shot_of(4) == 0 and plan.shot_of(5) == 1


@pytest.mark.skipif(not (VIDEO / "bikes_cuts.mp4").exists(),
                    reason="needs ../shared/data/video/bikes_cuts.mp4")
def test_shot_detection_finds_the_cuts_of_bikes_cuts():
  starts = steady.shot_starts(VIDEO / "bikes_cuts.mp4")  # grey frames at 96x64 only
  assert len(starts) == 6 and starts[0] == 0
  for found, cut in zip(starts[1:], (30, 76, 137, 187, 242)):  # its README's cuts
    assert abs(found - cut) <= 1


def test_outputs_are_named_only_when_complete(colorizer, clip, tmp_path, monkeypatch):
  finals = [tmp_path / f"clip_{i}.mp4" for i in (1, 2)]
  seen = []
  original = steady._steady_fields  # pylint: disable=protected-access

  def watching(*args):
    for index, item in enumerate(original(*args)):
      seen.append([f.exists() for f in finals]
                  + [all(n.startswith(atomic.TEMP_PREFIX) for n in os.listdir(tmp_path))])
      if index == 3:
        raise OSError(28, "No space left on device")
      yield item

  monkeypatch.setattr(steady, "_steady_fields", watching)
  with pytest.raises(OSError):
    steady.colorize_video(colorizer, str(clip), str(tmp_path), k=2)
  assert len(seen) == 4 and all(not any(s[:2]) and s[2] for s in seen)  # temporaries, no names
  assert os.listdir(tmp_path) == []  # the temporaries are removed


def test_an_encoder_error_on_its_thread_stops_the_run_and_names_nothing(colorizer, clip, tmp_path,
                                                                       monkeypatch):
  """Outputs are encoded on a thread of their own (steady._Encoding): a write that fails there
  (a full disk) is raised by colorize_video, and no output is left, named or not."""
  writes = []
  original = frames.Writer.write

  def failing(self, *args, **kwargs):
    writes.append(self.final)
    if len(writes) == 7:
      raise OSError(28, "No space left on device")
    return original(self, *args, **kwargs)

  monkeypatch.setattr(frames.Writer, "write", failing)
  with pytest.raises(OSError, match="No space left"):
    steady.colorize_video(colorizer, str(clip), str(tmp_path), k=3, grid=True)
  assert os.listdir(tmp_path) == []
  assert len(writes) < 4 * FRAMES  # it stopped, rather than encoding the rest


def test_outputs_wait_for_the_encoder_thread_only_while_small(colorizer, clip, tmp_path,
                                                              monkeypatch):
  """Small outputs are encoded on the encoder thread; an output over ENCODE_AHEAD_PIXELS (above
  1080p; here every output, the limit set to 0) in the caller's thread, so none waits."""
  import threading  # pylint: disable=g-import-not-at-top
  threads = []
  original = frames.Writer.write

  def recording(self, *args, **kwargs):
    threads.append(threading.current_thread().name)
    return original(self, *args, **kwargs)

  monkeypatch.setattr(frames.Writer, "write", recording)
  steady.colorize_video(colorizer, str(clip), str(tmp_path / "small"), k=2)
  assert len(threads) == 2 * FRAMES and all(n.startswith("divcolor-encode") for n in threads)
  threads.clear()
  monkeypatch.setattr(steady, "ENCODE_AHEAD_PIXELS", 0)
  steady.colorize_video(colorizer, str(clip), str(tmp_path / "large"), k=2)
  assert threads == [threading.main_thread().name] * (2 * FRAMES)


class _CountsBatches:
  """The colorizer, recording how many frames each decode call carries."""

  def __init__(self, colorizer):
    self._colorizer, self.frames_per_decode = colorizer, []

  def __getattr__(self, name):
    return getattr(self._colorizer, name)

  def decode(self, z, field_lightness):
    self.frames_per_decode.append(int(z.shape[0]))
    return self._colorizer.decode(z, field_lightness)


def _fields_and_versions(colorizer, clip, plan):
  """([(fields [k, F, F, 2], [k uint8 versions])] of pass 2 frame by frame, frames per decode)."""
  counting = _CountsBatches(colorizer)
  # pylint: disable=protected-access
  out = [(np.asarray(f), list(steady._versions(p, f)))
         for _, _, p, f in steady._steady_fields(counting, str(clip), plan)]
  return out, counting.frames_per_decode


def test_small_frames_are_decoded_in_batches_and_joined_at_once_as_one_at_a_time_would(
    colorizer, clip, monkeypatch):
  """Pass 2 decodes several frames' codes in one batch and joins a frame's k versions in one
  call (steady.DECODE_PIXELS, JOIN_PIXELS: throughput); both give the pixels of one frame and
  one version at a time."""
  plan = steady.plan(colorizer, str(clip), k=3)
  batched, per_decode = _fields_and_versions(colorizer, clip, plan)
  assert per_decode == [steady.BATCH, FRAMES - steady.BATCH]  # the test clip is batched
  monkeypatch.setattr(steady, "DECODE_PIXELS", 0)
  monkeypatch.setattr(steady, "JOIN_PIXELS", 0)
  single, per_decode = _fields_and_versions(colorizer, clip, plan)
  assert per_decode == [1] * FRAMES
  assert len(batched) == len(single) == FRAMES
  for (fields_a, rgb_a), (fields_b, rgb_b) in zip(batched, single):
    np.testing.assert_allclose(fields_a, fields_b, atol=1e-5)
    for a, b in zip(rgb_a, rgb_b):
      assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_bad_clips_are_one_line_and_the_rest_runs(colorizer, clip, tmp_path):
  (tmp_path / "in").mkdir()
  (tmp_path / "in" / "notes.mp4").write_text("not a video\n")
  data = clip.read_bytes()
  (tmp_path / "in" / "cut_short.mp4").write_bytes(data[:len(data) // 2])
  (tmp_path / "in" / "empty.mp4").write_bytes(b"")
  (tmp_path / "in" / "good.mp4").write_bytes(data)
  paths = frames.list_videos(tmp_path / "in")
  errors = []
  summary = video_run.colorize_videos(colorizer, paths, str(tmp_path / "out"), k=2,
                                      on_error=errors.append)
  assert (summary.total, summary.done, len(summary.failed)) == (4, 1, 3)
  assert len(errors) == 3 and all("\n" not in e for e in errors)
  for name in ("notes.mp4", "cut_short.mp4", "empty.mp4"):
    assert sum(name in e for e in errors) == 1
  assert sorted(os.listdir(tmp_path / "out")) == ["good_1.mp4", "good_2.mp4"]
  # --skip_existing: complete sets are skipped; a corrupt file's set is made again
  again = video_run.colorize_videos(colorizer, [str(tmp_path / "in" / "good.mp4")],
                                    str(tmp_path / "out"), k=2, skip_existing=True)
  assert again.skipped == 1
  broken = tmp_path / "out" / "good_2.mp4"
  broken.write_bytes(broken.read_bytes()[:broken.stat().st_size * 2 // 3])  # cut off
  redo = video_run.colorize_videos(colorizer, [str(tmp_path / "in" / "good.mp4")],
                                   str(tmp_path / "out"), k=2, skip_existing=True)
  assert redo.done == 1 and frames.probe(broken).frames == FRAMES


def test_a_baseline_is_refused_in_one_line(clip):
  class Baseline:  # colorize only: no mixture over codes
    def colorize(self, images, k=None):
      raise AssertionError("not called")
  with pytest.raises(ValueError, match="needs a mixture over codes") as error:
    steady.colorize_video(Baseline(), str(clip), "unused", k=2)
  assert "\n" not in str(error.value)


def test_the_command_line_colorizes_videos_beside_photos(clip, tmp_path):
  import skimage  # pylint: disable=g-import-not-at-top
  folder = tmp_path / "in"
  (folder / "sub").mkdir(parents=True)
  (folder / "sub" / "clip.mp4").write_bytes(clip.read_bytes())
  (folder / "broken.mp4").write_bytes(b"\0" * 100)
  photo = pathlib.Path(skimage.__file__).parent / "data" / "chelsea.png"
  (folder / "cat.png").write_bytes(photo.read_bytes())
  out = tmp_path / "out"
  command = console_script("divcolor-colorize") + ["--input", str(folder), "--output", str(out),
                                                   "--k", "2"]
  done = subprocess.run(command, capture_output=True, text=True, env=tool_env(), timeout=300,
                        check=False)
  assert done.returncode == 1, done.stderr  # broken.mp4 failed; the rest ran
  errors = [l for l in done.stderr.splitlines() if "broken.mp4" in l]
  assert len(errors) == 1 and "not a readable video" in errors[0]
  assert sorted(p.name for p in out.rglob("*") if p.is_file()) == [
      "cat_1.png", "cat_2.png", "clip_1.mp4", "clip_2.mp4"]
  assert (out / "sub" / "clip_1.mp4").exists()
  assert "1 of 2 video(s) (top-2 means of each shot, steady)" in done.stdout
