"""``python -m localvision`` runs the command line."""

from .cli.app import main

main()
