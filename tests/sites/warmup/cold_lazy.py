"""Imported only by the /cold view, which no warmup URL names."""
