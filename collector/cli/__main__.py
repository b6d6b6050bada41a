"""`python -m collector.cli`: the `vpctracker` console script."""

from collector.cli.main import entry

entry()
