"""The pipeline: syncers list categories, pollers claim videos, downloaders deliver them."""
