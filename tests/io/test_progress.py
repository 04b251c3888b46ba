"""The progress line of folder runs: count, rate and ETA; redrawn on a terminal, throttled in logs."""

import io

from divcolor_tf.io import progress


class _Clock:
  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_a_terminal_gets_one_line_redrawn_with_rate_and_eta():
  clock, stream = _Clock(), io.StringIO()
  bar = progress.Progress(8, stream=stream, interactive=True, clock=clock)
  clock.now += 2.0
  bar.update(2)
  assert stream.getvalue() == ("\r2/8 photos [######..................]  25%  1 photos/s  "
                               "ETA 0:06\x1b[K")
  bar.write("divcolor-colorize: x.jpg: not an image")  # an error does not break the line
  assert stream.getvalue().endswith("\r\x1b[Kdivcolor-colorize: x.jpg: not an image\n\r2/8 "
                                    "photos [######..................]  25%  1 photos/s  "
                                    "ETA 0:06\x1b[K")
  clock.now += 0.05
  bar.update()  # within 0.1 s of the last draw: not redrawn
  assert "3/8" not in stream.getvalue()
  clock.now += 5.95
  bar.update(5)
  bar.close()
  assert stream.getvalue().endswith("8/8 photos [########################] 100%  1 photos/s  "
                                    "in 0:08\x1b[K\n")


def test_a_log_gets_a_whole_line_now_and_then_and_a_single_photo_nothing():
  clock, stream = _Clock(), io.StringIO()
  bar = progress.Progress(100, unit="images", stream=stream, interactive=False, log_every=30,
                          clock=clock)
  for _ in range(100):
    clock.now += 1.0
    bar.update()
  bar.close()
  lines = stream.getvalue().splitlines()
  assert [line.split(" [")[0] for line in lines] == [" 30/100 images", " 60/100 images",
                                                       " 90/100 images"]
  assert lines[0].endswith("1 images/s  ETA 1:10")
  one = io.StringIO()
  single = progress.Progress(1, stream=one, interactive=True, clock=clock)
  single.update()
  single.close()
  assert one.getvalue() == ""


def test_long_runs_show_hours():
  clock, stream = _Clock(), io.StringIO()
  bar = progress.Progress(10_000, stream=stream, interactive=True, clock=clock)
  clock.now += 10.0
  bar.update(10)
  assert "ETA 2:46:30" in stream.getvalue()
