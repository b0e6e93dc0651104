"""The story viewer: server-rendered pages, served by `canonry serve` under /ui/, that show a
story's copies side by side, what the cleaner stripped from any ingest and why, and the
nearest documents that did not match.

- `markup`: an HTML builder that escapes every string it is not told is markup;
- `compare`, `stripped`: the pure computations (similarity, sentence diff, verdict rows);
- `pages`: the templates; `session`: the API key kept in a cookie; `handlers`: the routes.
"""
