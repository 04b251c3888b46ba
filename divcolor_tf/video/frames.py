"""Video files, frame by frame, with PyAV (``pip install -e ".[video]"``).

Why PyAV (``av`` on PyPI) and not imageio-ffmpeg: its wheels carry their own FFmpeg (with
libx264), it decodes in-process one frame at a time (a clip is never held whole in memory), it
exposes the stream's frame rate and time base, and it hands over the audio packets, which are
copied into the outputs without re-encoding.

Reading: :func:`probe` (size, rate, frame count, audio, time base) and :func:`rgb_frames` (uint8
RGB frames, streamed; :func:`decoded_frames`: with each frame's timestamp and duration). A raw
H.264 stream without container (``.264``, ``.h264``) is opened with ``format="h264"``; its frame
rate is FFmpeg's guess (25 when the stream does not store one). Every problem (not a video, a
truncated file, no video frames, fewer frames than the container announces, frames over the pixel
budget) is a :class:`VideoError`, one line naming the file.

The pixel budget: a clip's frames may have at most :data:`MAX_FRAME_MEGAPIXELS` (9: 4K UHD,
3840x2160, and DCI 4K, 4096x2160, fit; 8K does not) megapixels unless the caller gives another
budget (``--max_megapixels``; 0: none); a larger clip is refused in one line from its header,
before a frame is decoded, and a frame that grows past it mid-stream stops the clip in one line.
What a frame costs is per version: an H.264 encoder per output holds a few frames, so frames above
:data:`LOW_MEMORY_PIXELS` (1080p) are encoded without B-frames or lookahead (x264's
``tune=zerolatency``): 5 encoders at 3840x2160 held 2.7 GB of frames with x264's defaults, 0.8 GB
so; the colorization's own memory is one frame's (:mod:`.steady`).

Writing: :class:`Writer` encodes H.264 (libx264, CRF 18, yuv420p; yuv444p for an odd width or
height) into an MP4 (its index first, "faststart") at the input's size and frame rate under a
temporary name beside the final one (:func:`divcolor_tf.io.atomic.temp_path`); :func:`publish_all`
renames a clip's outputs together, only once all are complete. Timestamps: each output frame keeps
its input frame's pts and duration, in the input stream's time base, so a variable-frame-rate clip
stays one (a stream without timestamps, a raw ``.264``, gets frame index / rate). Each MP4 carries
the metadata ``comment=divcolor_tf`` (:data:`MARKER`): ``--overwrite`` and ``--skip_existing``
replace only such files.
"""

import fractions
import os
from typing import NamedTuple

import numpy as np

from divcolor_tf import data
from divcolor_tf.io import atomic

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".264", ".h264")
RAW_H264 = (".264", ".h264")
MARKER = ("comment", "divcolor_tf")  # the metadata every MP4 written here carries
CODEC = "libx264"
CRF = "18"  # x264's constant quality: visually lossless for these colour fields
DEFAULT_RATE = fractions.Fraction(25)
MAX_FRAME_MEGAPIXELS = 9  # the default budget of a video frame: 4K (3840x2160, DCI 4096x2160) fits
LOW_MEMORY_PIXELS = 1920 * 1088  # larger frames: encoders hold no lookahead or B-frames
LOW_MEMORY_OPTIONS = {"tune": "zerolatency"}


class VideoError(ValueError):
  """A video that cannot be used; str is one line, "<path>: <problem>"."""

  def __init__(self, path, problem):
    self.path = str(path)
    super().__init__(f"{data.display_path(path)}: {' '.join(str(problem).split())}")


def av_module():
  """PyAV, or a one-line ValueError saying how to install it."""
  try:
    import av  # pylint: disable=g-import-not-at-top  (optional: the [video] extra)
  except ImportError:
    raise ValueError('video needs PyAV: python -m pip install -e ".[video]" -c constraints.txt'
                     ) from None
  return av


def is_video(path):
  return os.fspath(path).lower().endswith(VIDEO_EXTENSIONS)


def list_videos(source):
  """The video files of ``source``: itself when it is one, those under a folder (recursive,
  sorted, hidden temporaries left out), else []."""
  source = os.fspath(source)
  if os.path.isdir(source):
    found = []
    for folder, subfolders, names in os.walk(source):
      subfolders.sort()
      found += [os.path.join(folder, n) for n in names
                if is_video(n) and not n.startswith(atomic.TEMP_PREFIX)]
    return sorted(found)
  return [source] if is_video(source) and os.path.exists(source) else []


class Info(NamedTuple):
  """What a clip is: frame size, frame rate (a Fraction: the average one for a variable rate),
  frame count (0: not stored), audio, the time base of its timestamps (None: not known)."""
  width: int
  height: int
  rate: fractions.Fraction
  frames: int
  audio: bool
  time_base: fractions.Fraction = None


class Frame(NamedTuple):
  """A decoded frame: uint8 RGB [H, W, 3], its pts and duration in the stream's time base (None
  when the stream does not say), and (:func:`decoded_frames`' ``small``) a small copy or None."""
  rgb: np.ndarray
  pts: int
  duration: int
  small: np.ndarray = None


def megapixel_budget(max_megapixels=None):
  """A video frame's budget in megapixels: None -> :data:`MAX_FRAME_MEGAPIXELS`, 0 -> no limit."""
  if max_megapixels is None:
    return MAX_FRAME_MEGAPIXELS
  if isinstance(max_megapixels, bool) or not float(max_megapixels) >= 0:
    raise ValueError(f"max_megapixels must be >= 0 (0: no limit), got {max_megapixels!r}")
  return float(max_megapixels)


def over_budget(width, height, max_megapixels=None):
  """Why frames of ``width`` x ``height`` are over the budget (one phrase), or None."""
  budget = megapixel_budget(max_megapixels)
  if budget and width * height > budget * 1e6:
    return (f"{width}x{height} frames ({width * height / 1e6:.1f} megapixels) are over the video "
            f"budget of {budget:g} megapixels a frame (--max_megapixels; default "
            f"{MAX_FRAME_MEGAPIXELS:g}: 4K); scale it down first, e.g. ffmpeg -vf scale=3840:-2")
  return None


def _problem(error):
  """An FFmpeg error's reason, without the file name it repeats."""
  return atomic.brief(getattr(error, "strerror", None) or error, 120)


def _open(path):
  av = av_module()
  try:
    container = av.open(os.fspath(path),
                        format="h264" if os.fspath(path).lower().endswith(RAW_H264) else None)
  except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
    raise VideoError(path, f"not a readable video ({_problem(e)})") from None
  if not container.streams.video:
    container.close()
    raise VideoError(path, "holds no video stream")
  return container


def probe(path):
  """The :class:`Info` of a clip (reads its header only)."""
  with _open(path) as container:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or DEFAULT_RATE
    return Info(stream.codec_context.width, stream.codec_context.height,
                fractions.Fraction(rate), int(stream.frames or 0), bool(container.streams.audio),
                fractions.Fraction(stream.time_base) if stream.time_base else None)


def rgb_frames(path, size=None):
  """Yields each frame of ``path`` as uint8 RGB [H, W, 3] (or resized to ``size`` = (width,
  height) by FFmpeg's scaler), streamed: one frame in memory at a time.

  Raises:
    VideoError: the file does not decode, holds no frames, or ends before the frame count its
      container announces (a truncated file).
  """
  for frame in decoded_frames(path, size):
    yield frame.rgb


def decoded_frames(path, size=None, small=None, max_megapixels=0):
  """Yields each frame of ``path`` as a :class:`Frame` (:func:`rgb_frames`' RGB, its timestamp,
  and with ``small`` = (width, height) a copy that small, both from one decode), streamed.

  Raises:
    VideoError: as :func:`rgb_frames`, and a frame over ``max_megapixels`` (0: no limit).
  """
  av = av_module()
  count = 0
  with _open(path) as container:
    stream = container.streams.video[0]
    announced = int(stream.frames or 0)
    stream.thread_type = "AUTO"
    try:
      for frame in container.decode(stream):
        problem = max_megapixels and over_budget(frame.width, frame.height, max_megapixels)
        if problem:
          raise VideoError(path, f"frame {count}: {problem}")
        kwargs = {"width": size[0], "height": size[1]} if size else {}
        yield Frame(frame.to_ndarray(format="rgb24", **kwargs), frame.pts,
                    getattr(frame, "duration", None) or None,
                    frame.to_ndarray(format="rgb24", width=small[0], height=small[1])
                    if small else None)
        count += 1
    except (av.FFmpegError, OSError) as e:
      raise VideoError(path, f"does not decode after frame {count} ({_problem(e)})"
                       ) from None
  if not count:
    raise VideoError(path, "holds no video frames")
  if announced and count < announced:
    raise VideoError(path, f"truncated: {count} of its {announced} frames decode")


class Writer:
  """An H.264 MP4 written frame by frame under a temporary name beside ``final``, with the audio
  of ``audio_from`` (a clip) copied without re-encoding when it has audio. ``close()`` finishes
  the file (still under its temporary name: :func:`publish_all`); ``discard()`` removes it."""

  def __init__(self, final, width, height, rate, audio_from=None, time_base=None):
    av = av_module()
    self.final, self.temp = os.fspath(final), atomic.temp_path(final)
    self.audio_from = audio_from
    self.width, self.height, self.frames = int(width), int(height), 0
    # timestamps in the input's time base (its own pts); without one, frame index / rate
    self.time_base = fractions.Fraction(time_base or 1 / fractions.Fraction(rate))
    self._step = max(1, round(1 / (fractions.Fraction(rate) * self.time_base)))
    self._last_pts = None
    # faststart: the index (and MARKER) ahead of the frames, where a cut-off file still has it
    self._container = av.open(self.temp, "w", format="mp4", options={"movflags": "faststart"})
    self._container.metadata[MARKER[0]] = MARKER[1]
    self._stream = self._container.add_stream(CODEC, rate=fractions.Fraction(rate))
    self._stream.width, self._stream.height = int(width), int(height)
    self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    self._stream.options = {"crf": CRF, "preset": "veryfast",
                            **(LOW_MEMORY_OPTIONS if width * height > LOW_MEMORY_PIXELS else {})}
    self._stream.codec_context.time_base = self.time_base
    self._audio = None
    if audio_from is not None:
      self._source = _open(audio_from)
      if self._source.streams.audio:
        self._audio = self._container.add_stream_from_template(self._source.streams.audio[0])
      else:
        self._source.close()

  def write(self, rgb, pts=None, duration=None):
    """Appends one uint8 RGB frame [H, W, 3] at ``pts`` (with ``duration``) in :attr:`time_base`:
    the input frame's own timestamp; None (or one not after the last): the last + 1 / rate."""
    av = av_module()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, np.uint8), format="rgb24")
    last = self._last_pts
    if pts is None or (last is not None and pts <= last):
      pts = 0 if last is None else last + self._step
    frame.pts, frame.time_base, self._last_pts = int(pts), self.time_base, int(pts)
    if duration:
      try:
        frame.duration = int(duration)
      except AttributeError:  # a PyAV without Frame.duration: the muxer guesses the last one's
        pass
    self.frames += 1
    self._container.mux(self._stream.encode(frame))

  def close(self):
    """Flushes the encoder and copies the audio packets; the file is complete (not renamed)."""
    self._container.mux(self._stream.encode(None))
    if self._audio is not None:
      source_audio = self._source.streams.audio[0]
      for packet in self._source.demux(source_audio):
        if packet.dts is None:  # the demuxer's flush packet
          continue
        packet.stream = self._audio
        self._container.mux(packet)
      self._source.close()
      self._audio = None
    self._container.close()

  def discard(self):
    """Closes what is open and removes the temporary file."""
    for handle in (getattr(self, "_source", None), self._container):
      try:
        if handle is not None:
          handle.close()
      except Exception:  # pylint: disable=broad-except  (already failing: remove the file anyway)
        pass
    atomic.remove(self.temp)


def publish_all(writers, replace=False):
  """Renames every writer's complete temporary to its final name, holding the output folder's
  lock: all or none (an exclusive rename that loses removes the ones this call made)."""
  folder = os.path.dirname(writers[0].final) or "."
  installed = []
  with atomic.folder_lock(folder):
    try:
      for writer in writers:
        atomic.publish(writer.temp, writer.final, exclusive=not replace)
        installed.append(writer.final)
    except FileExistsError:
      for final in installed:
        atomic.remove(final)
      raise


def ours(path):
  """True when ``path`` may be replaced: missing, empty, or a video carrying :data:`MARKER`."""
  if not os.path.lexists(path):
    return True
  if os.path.islink(path) or not os.path.isfile(path):
    return False
  if os.path.getsize(path) == 0:
    return True
  try:
    with _open(path) as container:
      return container.metadata.get(MARKER[0], "") == MARKER[1]
  except VideoError:
    return False


def complete(path, info, width=None, height=None):
  """None when ``path`` is a video of ``width`` x ``height`` (default: ``info``'s) whose every
  frame decodes, as many as ``info`` announces; else the problem (one phrase)."""
  if not os.path.isfile(path):
    return "missing"
  try:
    got = probe(path)
    decoded = sum(1 for _ in rgb_frames(path, size=(16, 16)))
  except VideoError as e:
    return str(e)
  size = (width or info.width, height or info.height)
  if (got.width, got.height) != size:
    return f"{got.width}x{got.height}, not {size[0]}x{size[1]}"
  if info.frames and decoded != info.frames:
    return f"{decoded} frames, not {info.frames}"
  return None
