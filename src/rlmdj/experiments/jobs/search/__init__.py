"""The palette search job (``experiment=search_palettes``): Optuna proposes palettes, each trial
plays and scores its sets, and the top palettes are confirmed on fresh seeds
(:mod:`.palette_search`); :mod:`.palette_report` writes its files, record and table."""
