"""`python -m baselines.otc DIR...`: the score after each deployment, per OTC configuration."""

import sys

from baselines.otc.table import main

main(sys.argv[1:])
