"""Helpers for the program tests: the bundled content plus the small fixture program `TST`."""

from __future__ import annotations

from pathlib import Path

from content.load import load_content, sync_programs
from content.programs import read_program
from store.db import session_scope
from store.settings import Settings

FIXTURE = Path(__file__).parent / "programs" / "tst.yaml"


def load_with_fixture(settings: Settings) -> None:
    problems: list = []
    program = read_program(FIXTURE, problems)
    assert program is not None and not problems, problems
    with session_scope(settings.database_url) as session:
        load_content(session, None, settings.clock.now().date())
        sync_programs(session, [program])
