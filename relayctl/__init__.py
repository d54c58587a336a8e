"""relayctl: the project's command-line tool (``relayctl --help``, or ``python -m relayctl --help``)."""
