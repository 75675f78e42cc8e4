"""The error a broadcast raises for input an admin must correct.

Its message says what to change; the CLI, the console and the API show it as it is.
"""


class BroadcastError(ValueError):
    """Input an admin must correct; the message says what to change."""
