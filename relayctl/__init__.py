"""relayctl: the project's command-line tool (``relayctl --help``; ``python -m relayctl`` too)."""
