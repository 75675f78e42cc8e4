"""`rounds mentor ...`: manage mentors and pairs from the command line."""

import click

COMMANDS: list[click.Command] = []
