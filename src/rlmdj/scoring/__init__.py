"""Scoring: the Scorer interface, scorer backends, OBJ and signal metrics."""
