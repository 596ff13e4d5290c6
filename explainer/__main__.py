"""``python -m explainer``: see explainer/cli.py."""

from explainer.cli import main

raise SystemExit(main())
