"""A progress line for folder runs (divcolor-colorize, -evaluate, -stats): count, rate, ETA.

On a terminal it is one line redrawn in place on stderr (at most ten times a second):

   37/120 photos [#######.................]  31%  2.4 photos/s  ETA 0:35

Elsewhere (a log file, a pipe, CI) the same line is printed whole, at most once every
``log_every`` seconds, so a long run leaves a readable trace and a short one none. Runs of a
single item show nothing. No dependency: tqdm's look without tqdm.
"""

import sys
import time


WIDTH = 24  # characters of the bar
_ROUTE = []  # the stream bars go to by default when a command line set one (route)


def route(stream):
  """Sends bars (by default) to ``stream``: the command lines pass their real terminal, since
  their stderr is a line filter (bin/cli.py) through which a redrawn line would not pass."""
  _ROUTE[:] = [stream]


def _clock(seconds):
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
  """``update(n)`` after each item (or batch of items); ``close()`` at the end (or use ``with``)."""

  def __init__(self, total, unit="photos", stream=None, interactive=None, log_every=30.0,
               clock=time.monotonic):
    """Args:
      total: items in the run (the bar is off for fewer than 2).
      unit: the items' name, plural.
      stream: where the line goes (default: the routed stream, else sys.stderr).
      interactive: redraw in place (default: whether ``stream`` is a terminal).
      log_every: seconds between whole lines when not interactive.
      clock: seconds, monotonic (tests pass their own).
    """
    self.total, self.unit = int(total), unit
    if stream is None:
      stream = _ROUTE[0] if _ROUTE else sys.stderr
    self.stream = stream
    if interactive is None:
      interactive = bool(getattr(self.stream, "isatty", lambda: False)())
    self.interactive, self.log_every, self.clock = interactive, float(log_every), clock
    self.enabled = self.total >= 2
    self.done = 0
    self.start = clock()
    self._last_draw = None
    self._finished = None  # when the last item was done: the rate and time stop there
    self._drawn = False

  def line(self):
    """The progress line for the items done so far."""
    fraction = min(1.0, self.done / self.total) if self.total else 1.0
    filled = int(round(fraction * WIDTH))
    end = self._finished if self._finished is not None else self.clock()
    elapsed = max(end - self.start, 1e-9)
    rate = self.done / elapsed
    text = (f"{self.done:>{len(str(self.total))}}/{self.total} {self.unit} "
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%}")
    if self.done:
      text += f"  {rate:.3g} {self.unit}/s"
      if self.done < self.total:
        text += f"  ETA {_clock((self.total - self.done) / rate)}"
      else:
        text += f"  in {_clock(elapsed)}"
    return text

  def update(self, n=1):
    self.done += n
    if not self.enabled:
      return
    now = self.clock()
    if self.done >= self.total and self._finished is None:
      self._finished = now
    if self.interactive:
      if self._last_draw is None or now - self._last_draw >= 0.1 or self.done >= self.total:
        self._last_draw = now
        self._draw()
    elif self.done < self.total and now - (self._last_draw or self.start) >= self.log_every:
      self._last_draw = now  # not on a terminal: a whole line now and then, none at the end
      self.stream.write(self.line() + "\n")
      self.stream.flush()

  def update_to(self, done):
    """Sets the count of items done (e.g. photos scored plus photos left out so far)."""
    if done > self.done:
      self.update(done - self.done)

  def write(self, text):
    """Prints a line of the run's own (an error, a notice) without mangling the bar."""
    if self._drawn:
      self.stream.write("\r\x1b[K")
    self.stream.write(text + "\n")
    if self._drawn:
      self._draw()
    self.stream.flush()

  def close(self):
    """Ends the redrawn line (the next output starts on a line of its own)."""
    if self._drawn:
      self._draw()
      self.stream.write("\n")
      self.stream.flush()
      self._drawn = False

  def _draw(self):
    self.stream.write("\r" + self.line() + "\x1b[K")
    self.stream.flush()
    self._drawn = True

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
