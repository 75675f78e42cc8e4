"""Content: the question bank, resources, taxonomy and the message catalog, with their checks.

Data lives in `content/data/` (or the folder `ROUNDS_CONTENT` names); this package
loads it, checks it and counts what it costs to send.
"""

from pathlib import Path

BUNDLED = Path(__file__).parent / "data"


def content_root(configured: str = "") -> Path:
    """The content folder to use: the configured one or the bundled sample."""
    return Path(configured) if configured else BUNDLED
