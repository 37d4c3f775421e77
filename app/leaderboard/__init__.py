"""Leaderboards from the arena's votes: read battles from the DB, clean them with the
ranking engine's rules, fit every board, store snapshots, draw plots and export files.

Modules (imported directly; this package import stays light for the CLI):

- ``load``: ``load_battle_records(session, cutoff=)``, ``load_model_info(session)``;
  ``load_ranking_records(session, models, cutoff=)``: the same battles in chunks, texts
  reduced to what ranking needs (``records.RankingFacts``)
- ``style_store``: answers' style counts stored when saved (``generations.style``)
- ``cleaning``: ``clean(battles, models, CleaningParams)`` → kept battles + per-rule report
- ``compute``: ``compute_leaderboards(...)`` → ``LeaderboardRun`` (pure, no DB)
- ``pipeline``: ``run_leaderboard(sessionmaker, ...)``: compute and store a snapshot
- ``snapshots``: ``store_run``, ``latest_snapshot`` (what the page reads)
- ``plots``: deterministic matplotlib SVG/PNG; ``dataset``: Parquet in the VisionArena schema
- ``export``: ``write_export(run, out_root, day)``; ``export_runs``: the per-date lock
"""
