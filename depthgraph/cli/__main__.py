"""``python -m depthgraph.cli``."""

from depthgraph.cli import main

main()
