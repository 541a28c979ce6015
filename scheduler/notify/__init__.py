"""Telling people what happened: events gathered into digests per notification URL
(digest.py, pure), sent through Apprise at the edge (sender.py), by one instance per
digest whatever the number of instances (notifier.py; the outbox and its cursors are
scheduler/db/notify_queries.py's)."""
