"""``divcolor-web``: a local page to look at, sample, blend and steer colorizations
(:mod:`.server`; the page itself is ``static/index.html``)."""
