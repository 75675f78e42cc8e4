"""The YAML seed and the database: `rounds content load` and `export` round-trip, and a load never
overwrites what educators changed, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from content import content_root
from content.load import load_content
from content.seed import export_content, quote
from store.admin import AdminUser
from store.authoring import (
    SEED,
    QuestionVersion,
    add_review,
    create_draft,
    edit,
    publish,
    published_version,
    reviewer_names,
    signed_off_by,
    submit,
    versions_of,
)
from store.models import Question
from tests.content_samples import question, write_content

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 9, tzinfo=UTC)

FRENCH = """\
- id: 201
  stem: "Quel ion un diurétique de l'anse fait-il perdre le plus ?"
  options:
    A: "Le sodium seul"
    B: "Le potassium"
    C: "Le phosphate"
    D: "Le bicarbonate"
  explanation: "Les diurétiques de l'anse bloquent NKCC2 et font perdre le K ; le bicarbonate est gardé."
  translated_by: "Rounds content team"
"""


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted([*root.glob("questions/*.yaml"), *root.glob("translations/*/*.yaml")])
    }


def accounts(db: Session) -> tuple[AdminUser, AdminUser, AdminUser]:
    people = [
        AdminUser(email=email, password_hash="x", role="viewer", capabilities=caps)
        for email, caps in (
            ("writer@example.org", ["educator"]),
            ("rev1@example.org", ["reviewer"]),
            ("rev2@example.org", ["reviewer"]),
        )
    ]
    db.add_all(people)
    db.flush()
    return people[0], people[1], people[2]


def publish_edit(db: Session, question_id: int, changes: dict, language: str = "en") -> QuestionVersion:
    writer, one, two = accounts(db)
    edit(db, writer, question_id, changes, NOW, language)
    submit(db, writer, question_id, lambda v: [], NOW, language)
    add_review(db, one, question_id, "approve", "", NOW, language)
    add_review(db, two, question_id, "approve", "", NOW, language)
    return publish(db, one, question_id, 2, NOW, language)


def test_the_bundled_bank_loads_exports_and_reloads_without_a_change(db: Session, tmp_path: Path) -> None:
    first = load_content(db, content_root(), TODAY, NOW)
    db.commit()
    assert first.questions.inserted >= 150
    export_content(db, tmp_path / "one", content_root())
    again = load_content(db, tmp_path / "one", TODAY, NOW)
    db.commit()
    assert not again.changed, str(again)
    assert again.questions.unchanged == first.questions.inserted
    export_content(db, tmp_path / "two", content_root())
    one, two = files_of(tmp_path / "one"), files_of(tmp_path / "two")
    assert len(one) >= 14 and one == two


def test_todays_reviewer_field_means_an_author_reviewed_in_house(db: Session, tmp_path: Path) -> None:
    load_content(db, write_content(tmp_path / "seed"), TODAY, NOW)
    version = published_version(db, 201)
    assert version is not None
    assert (version.author, version.reviewers, version.review, version.origin) == (
        "Test reviewer",
        [],
        "internal",
        SEED,
    )
    assert version.sources == [{"title": "StatPearls, Loop diuretics", "edition": "2024"}]
    export_content(db, tmp_path / "out", tmp_path / "seed")
    item = yaml.safe_load((tmp_path / "out" / "questions" / "renal.yaml").read_text())[0]
    assert item["author"] == "Test reviewer" and item["reviewers"] == [] and item["review"] == "internal"
    assert item["source"] == "StatPearls, Loop diuretics (2024)" and "reviewer" not in item


def test_named_reviewers_and_several_sources_round_trip(db: Session, tmp_path: Path) -> None:
    signed = question(201).replace(
        '  reviewer: "Test reviewer"\n',
        '  author: "Dr Okafor"\n  reviewers:\n    - name: "Dr Mensah"\n      date: 2026-10-02\n'
        "  review: external\n",
    )
    signed = signed.replace(
        '  source: "StatPearls, Loop diuretics (2024)"\n',
        '  sources:\n    - title: "BNF, Furosemide"\n      edition: "2025"\n'
        '      url: "https://bnf.nice.org.uk/drugs/furosemide/"\n    - title: "StatPearls, Loop diuretics"\n'
        '      edition: "2024"\n',
    )
    root = write_content(tmp_path / "seed", renal=signed + question(202))
    load_content(db, root, TODAY, NOW)
    db.commit()
    version = published_version(db, 201)
    assert version is not None and version.reviewers == [{"name": "Dr Mensah", "date": "2026-10-02"}]
    assert db.get(Question, 201).approvals == 1
    assert [v.question_id for v in signed_off_by(db, "dr  mensah")] == [201]
    assert reviewer_names(db) == ["Dr Mensah"]
    export_content(db, tmp_path / "out", root)
    assert not load_content(db, tmp_path / "out", TODAY, NOW).changed
    item = yaml.safe_load((tmp_path / "out" / "questions" / "renal.yaml").read_text())[0]
    assert item["review"] == "external" and len(item["sources"]) == 2
    assert item["sources"][0]["url"] == "https://bnf.nice.org.uk/drugs/furosemide/"


def test_translations_load_as_published_versions_and_export_per_language(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path / "seed")
    shutil.rmtree(root / "translations")  # the samples' own translations; this test brings one
    (root / "translations" / "fr").mkdir(parents=True)
    (root / "translations" / "fr" / "renal.yaml").write_text(FRENCH, encoding="utf-8")
    report = load_content(db, root, TODAY, NOW)
    db.commit()
    assert report.translation_versions.inserted == 1
    french = published_version(db, 201, "fr")
    assert french is not None and french.base_version == 1 and french.author == "Rounds content team"
    assert french.answer == "B"  # the key is the English item's
    export_content(db, tmp_path / "out", root)
    written = (tmp_path / "out" / "translations" / "fr" / "renal.yaml").read_text(encoding="utf-8")
    assert "diurétique de l'anse" in written
    assert yaml.safe_load(written) == yaml.safe_load(FRENCH)
    assert not load_content(db, tmp_path / "out", TODAY, NOW).changed


def test_a_changed_stem_in_the_files_is_a_new_version_and_a_date_is_not(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY, NOW)
    write_content(tmp_path, renal=question(201, review_by="2031-02-01") + question(202, stem="A new stem?"))
    report = load_content(db, root, TODAY, NOW)
    db.commit()
    assert report.questions.updated == 2
    assert [v.version for v in versions_of(db, 201, "en")] == [1]
    assert [(v.version, v.status) for v in versions_of(db, 202, "en")] == [(1, "retired"), (2, "published")]
    assert db.get(Question, 202).version == 2 and db.get(Question, 201).version == 1


def test_a_load_keeps_what_educators_changed_and_their_new_items(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY, NOW)
    publish_edit(db, 201, {"stem": "Which ion does furosemide waste most?"})
    writer = db.scalar(select(AdminUser).where(AdminUser.email == "writer@example.org"))
    fresh = create_draft(db, writer, {"topic": "renal", "stem": "A console-only item?"}, NOW)
    db.commit()
    # The files change item 201 too, and do not have the console's items: both stay as they are.
    changed = question(201, explanation="Seed edit: NKCC2, K lost; not bicarbonate.")
    write_content(tmp_path, renal=changed + question(202))
    report = load_content(db, root, TODAY, NOW)
    db.commit()
    assert report.questions.kept == 1 and report.questions.deactivated == 0
    row = db.get(Question, 201)
    assert (row.stem, row.version) == ("Which ion does furosemide waste most?", 2)
    assert versions_of(db, fresh.question_id)[0].status == "draft"
    # The educator's version is what the export writes.
    export_content(db, tmp_path / "out", root)
    assert "Which ion does furosemide waste most?" in (tmp_path / "out/questions/renal.yaml").read_text()


def test_quoting_reads_back_exactly(tmp_path: Path) -> None:
    for text in ['He said "no" \\ then', "tab\tand line\nbreak", "é ñ ü – “x”", "a\u2028b", "emoji 🩺"]:
        assert yaml.safe_load(f"value: {quote(text)}\n")["value"] == text


def test_translations_load_while_an_educator_drafts_the_english_and_keep_their_own_edits(
    db: Session, tmp_path: Path
) -> None:
    root = write_content(tmp_path / "seed")
    shutil.rmtree(root / "translations")  # the samples' own translations; this test brings one
    load_content(db, root, TODAY, NOW)
    writer, one, two = accounts(db)
    edit(db, writer, 201, {"review_by": "2031-01-01"}, NOW)  # an English draft is now the newest
    (root / "translations" / "fr").mkdir(parents=True)
    (root / "translations" / "fr" / "renal.yaml").write_text(FRENCH, encoding="utf-8")
    assert load_content(db, root, TODAY, NOW).translation_versions.inserted == 1
    # A reviewer-published French edit is kept when the files still have the old text.
    edit(db, writer, 201, {"stem": "Quel ion le furosémide fait-il perdre le plus ?"}, NOW, "fr")
    submit(db, writer, 201, lambda v: [], NOW, "fr")
    add_review(db, one, 201, "approve", "", NOW, "fr")
    add_review(db, two, 201, "approve", "", NOW, "fr")
    publish(db, one, 201, 2, NOW, "fr")
    report = load_content(db, root, TODAY, NOW)
    assert report.translation_versions.kept == 1 and not report.translation_versions.updated
    french = published_version(db, 201, "fr")
    assert french is not None and french.stem.startswith("Quel ion le furosémide") and french.version == 2


def test_a_corrected_key_is_a_version_the_next_load_keeps_and_the_export_writes(
    db: Session, tmp_path: Path
) -> None:
    from store.corrections import retract
    from store.translations import QuestionTranslation

    root = write_content(tmp_path)
    load_content(db, root, TODAY, NOW)
    db.commit()
    retract(db, 201, "the key was C", "C", NOW, 60, "reviewer@example.org")
    db.commit()
    assert [(v.version, v.status, v.answer) for v in versions_of(db, 201, "en")] == [
        (1, "retired", "B"),
        (2, "published", "C"),
    ]
    # Only the letter changed: the French text still translates version 2, so it is still served.
    assert db.get(QuestionTranslation, (201, "fr")).version == 2
    report = load_content(db, root, TODAY, NOW)  # the file still says B
    db.commit()
    assert db.get(Question, 201).answer == "C" and report.questions.kept == 1
    assert any("key was corrected to C" in p.message for p in report.kept_keys)
    export_content(db, tmp_path / "out", root)
    exported = yaml.safe_load((tmp_path / "out" / "questions" / "renal.yaml").read_text())
    assert next(item for item in exported if item["id"] == 201)["answer"] == "C"
