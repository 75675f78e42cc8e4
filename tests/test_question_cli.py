"""The command line of the educators' piece: accounts with the educator and reviewer roles, and
`rounds content load`/`export` round-tripping through the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from gateway.admin.accounts import find_user
from store.db import session_scope
from tests.admin_support import PASSWORD


def roles_of(settings, email: str) -> list[str]:
    with session_scope(settings.database_url) as session:
        user = find_user(session, email)
        assert user is not None
        return user.roles


def test_educator_and_reviewer_accounts_and_a_second_role(runner, app_settings):
    made = runner.invoke(
        args=["admin", "create", "writer@example.org", "--role", "educator", "--password", PASSWORD]
    )
    assert made.exit_code == 0, made.output
    assert "as viewer + educator" in made.output
    assert roles_of(app_settings, "writer@example.org") == ["viewer", "educator"]

    both = runner.invoke(args=["admin", "grant", "writer@example.org", "--role", "reviewer"])
    assert both.exit_code == 0 and "viewer + educator + reviewer" in both.output
    dropped = runner.invoke(args=["admin", "grant", "writer@example.org", "--role", "educator", "--remove"])
    assert dropped.exit_code == 0 and roles_of(app_settings, "writer@example.org") == ["viewer", "reviewer"]

    # An editor asked to become a reviewer keeps the rank: the role is added, not swapped.
    runner.invoke(args=["admin", "create", "ed@example.org", "--role", "editor", "--password", PASSWORD])
    again = runner.invoke(
        args=["admin", "create", "ed@example.org", "--role", "reviewer", "--password", PASSWORD]
    )
    assert again.exit_code == 0 and roles_of(app_settings, "ed@example.org") == ["editor", "reviewer"]

    missing = runner.invoke(args=["admin", "grant", "nobody@example.org", "--role", "reviewer"])
    assert missing.exit_code != 0 and "rounds admin create nobody@example.org" in missing.output
    wrong = runner.invoke(args=["admin", "grant", "ed@example.org", "--role", "admin"])
    assert wrong.exit_code != 0
    listed = runner.invoke(args=["admin", "list"])
    assert "editor+reviewer" in listed.output


def test_content_load_export_and_load_again_changes_nothing(runner, tmp_path: Path):
    first = runner.invoke(args=["content", "load"])
    assert first.exit_code == 0, first.output
    exported = runner.invoke(args=["content", "export", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "out" / "questions" / "cardiology.yaml").exists()
    assert (tmp_path / "out" / "taxonomy.yaml").exists()  # the export is a content folder of its own
    again = runner.invoke(args=["content", "load", str(tmp_path / "out")])
    assert again.exit_code == 0, again.output
    assert "questions: 0 inserted, 0 updated" in again.output and "0 deactivated" in again.output
    second = runner.invoke(args=["content", "export", str(tmp_path / "two")])
    assert second.exit_code == 0
    for path in (tmp_path / "out" / "questions").glob("*.yaml"):
        assert path.read_bytes() == (tmp_path / "two" / "questions" / path.name).read_bytes()
