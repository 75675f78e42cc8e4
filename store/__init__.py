"""The storage layer: configuration, SQLAlchemy models, sessions and migrations.

The lowest floor of Rounds; it imports nothing from the other packages.
"""
