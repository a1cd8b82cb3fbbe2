"""``python -m fedcrm`` runs the command line."""

from fedcrm.cli import main

main()
