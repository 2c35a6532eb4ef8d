"""pkdstudy: this repository's study of PKD, built on pkdlib (which never imports it).

Profiles (``profiles``) expand into plans (``plan``) that the runner (``study``) executes as papermill notebooks
(``notebooks``); the report (``report``, ``claims``, ``stats``) turns the records into tables and figures; the
speed-up (``speed``), benchmarks (``bench``), the official results (``reference``) and the teaching notebook's
helpers (``teaching``) sit beside them.
"""
