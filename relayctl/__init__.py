"""relayctl: the project's command-line tool (``python -m relayctl --help``)."""
