"""The `scheduler` command: its parser and dispatch (main.py), the client commands'
transport to a running service (transport.py), how answers are printed (render.py), and
`scheduler watch`'s screen (watch_view.py)."""
