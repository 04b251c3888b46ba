"""Video colorization (issue 46): k versions of a clip, each steady in time.

:mod:`.frames` reads and writes video files with PyAV (the optional ``[video]`` extra: its wheels
carry their own FFmpeg and libx264), frame by frame; :mod:`.steady` finds a clip's shots and
gives each shot one mixture, so version i decodes the same code for every frame of a shot and
only the frame's own lightness changes.
"""
