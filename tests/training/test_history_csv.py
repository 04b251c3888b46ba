"""history.csv keeps every row under its header (issue 47, row 7): a resumed run whose epochs log
keys the file's header lacks (the two-worker MDN restarted after a kill at its last step appended
13-field rows under an 8-column header) rewrites the file under the wider header instead."""

import csv
import logging
import os

import tiny_models

from divcolor_tf.trainers import vae as train_vae
from divcolor_tf.training import callbacks
from divcolor_tf.training import checkpoints


def _lines(path):
  with open(path, newline="") as f:
    return list(csv.reader(f))


def test_a_resume_that_logs_more_columns_than_the_header_widens_the_header(repo_root, lfw_ci,
                                                                          tmp_path):
  config = tiny_models.tiny_config(repo_root, lfw_ci)
  config.vae.steps_per_epoch = 2
  config.train.image_summaries = 0
  workdir = str(tmp_path / "run")
  train_vae.train(config, workdir, verbose=0)
  history = os.path.join(workdir, "history.csv")
  header, row = _lines(history)
  assert "val_loss" in header and len(row) == len(header)
  # The file as the earlier process of the job left it: its epoch logged fewer keys (no
  # validation terms), so its header is narrower than what the resumed run logs.
  narrow = [i for i, name in enumerate(header) if not name.startswith("val_")]
  with open(history, "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows([[line[i] for i in narrow]
                                                  for line in (header, row)])
  config.vae.epochs = 2
  train_vae.train(config, workdir, verbose=0)
  lines = _lines(history)
  assert [len(line) for line in lines] == [len(lines[0])] * 3, lines  # every row under the header
  rows = [dict(zip(lines[0], line)) for line in lines[1:]]
  assert [r["epoch"] for r in rows] == ["0", "1"]
  assert rows[0]["val_loss"] == "" and float(rows[1]["val_loss"]) > 0  # the old row padded
  assert float(rows[0]["loss"]) > 0 and float(rows[1]["loss"]) > 0
  assert lines[0][:len(narrow)] == [header[i] for i in narrow]  # the old columns keep their place


def test_a_note_line_in_history_csv_is_kept_on_resume_with_a_warning(tmp_path, caplog):
  """issue 47 row 14: a note a user appended to history.csv made the resume's trim a ValueError
  traceback. It is kept, named in a warning; the rows past the checkpoint still go."""
  history = tmp_path / "history.csv"
  history.write_text("epoch,loss\n0,1.5\n# lr lowered by hand here\n1,1.25\n2,1.0\n")
  with caplog.at_level(logging.WARNING):
    checkpoints.trim_history(str(history), 2)
  assert history.read_text() == "epoch,loss\n0,1.5\n# lr lowered by hand here\n1,1.25\n"
  warned = [r.getMessage() for r in caplog.records if "not an epoch's row" in r.getMessage()]
  assert warned == [f"{history}, line 3: not an epoch's row (its first field is no epoch "
                    "number); kept as it is: # lr lowered by hand here"], warned
  callbacks.append_history(str(history), 2, {"loss": 0.75})  # the resumed run logs on
  assert _lines(history)[2] == ["# lr lowered by hand here", ""]
  assert _lines(history)[-1] == ["2", "0.75"]
