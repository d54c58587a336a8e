"""``python -m relayctl``: see relayctl/cli.py."""

from relayctl.cli import main

raise SystemExit(main())
