"""Scheduler: keeps archives of online video categories in sync."""

__version__ = "0.1.0"
