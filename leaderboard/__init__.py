"""The leaderboard: submissions (manifest + run-writer results), their validation, the static site.

docs/leaderboard.md. `submission.py` checks a submission, `site.py` renders the
accepted ones (`entries/`), `verify.py` re-runs a submission's seeds, `cli.py` is
`madata leaderboard`. Imports baselines and madatasets; nothing imports it but the CLI.
"""
