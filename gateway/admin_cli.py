"""`rounds admin ...`, `rounds broadcast` and `rounds export`: the admins' command line."""

import click

COMMANDS: list[click.Command] = []
