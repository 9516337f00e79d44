"""`python -m bot`: the `smokebot` command line."""

from bot.cli import main

main()
