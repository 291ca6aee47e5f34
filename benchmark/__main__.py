"""``python -m benchmark``: the command-line interface."""

from benchmark.cli import main

raise SystemExit(main())
