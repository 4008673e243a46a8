"""Imported only by the /warm view, which the warmup requests at build time."""
