"""Sound engine: bar grid, patterns, samples, mixer channels, renderer and WAV I/O.

Pure numpy/soundfile; knows nothing of LLMs, scoring or MLflow.
"""
