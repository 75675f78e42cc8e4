"""`load_content` on SQLite and PostgreSQL: idempotent upserts that never lose history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from content import content_root
from content.load import ContentError, Counts, load_content
from store.models import Attempt, Person, Question, Resource
from tests.content_samples import question, write_content

TODAY = date(2026, 11, 26)


def stored(db: Session) -> dict[int, Question]:
    db.expire_all()
    return {q.id: q for q in db.scalars(select(Question))}


def test_loading_twice_changes_nothing_the_second_time(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    first = load_content(db, root, TODAY)
    db.commit()
    assert first.questions == Counts(inserted=3)
    assert first.resources == Counts(inserted=2)
    before = {q.id: q.updated_at for q in stored(db).values()}

    second = load_content(db, root, TODAY)
    db.commit()
    assert second.questions == Counts(unchanged=3)
    assert second.resources == Counts(unchanged=2)
    assert not second.changed
    assert {q.id: q.updated_at for q in stored(db).values()} == before

    q = stored(db)[202]
    assert q.topic == "renal" and q.tracks == ["step1", "plab1"] and q.answer == "B"
    assert q.options == {"A": "Sodium only", "B": "Potassium", "C": "Phosphate", "D": "Bicarbonate"}
    assert q.review_by == date(2030, 1, 31) and q.active
    kidney = db.get(Resource, "kidney-basics")
    assert kidney is not None and kidney.languages == ["en", "fr"] and kidney.topics == ["renal"]


def test_an_edited_question_is_updated(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY)
    db.commit()
    write_content(
        tmp_path,
        renal=question(201, explanation="Edited: NKCC2 block wastes K, not phosphate.")
        + question(202, answer="D", explanation="Loop diuretics keep bicarbonate, not phosphate."),
    )
    report = load_content(db, root, TODAY)
    db.commit()
    assert report.questions == Counts(updated=2, unchanged=1)
    questions = stored(db)
    assert questions[201].explanation == "Edited: NKCC2 block wastes K, not phosphate."
    assert questions[202].answer == "D"


def test_a_removed_question_becomes_inactive_and_its_attempts_survive(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY)
    person = Person(phone="+2348030000111", name="Ada")
    db.add(person)
    db.flush()
    db.add(
        Attempt(
            person_id=person.id,
            question_id=202,
            local_date=TODAY,
            choice="B",
            correct=True,
            answered_at=datetime(2026, 11, 26, 9, tzinfo=UTC),
        )
    )
    db.commit()

    write_content(tmp_path, renal=question(201))
    report = load_content(db, root, TODAY)
    db.commit()
    assert report.questions == Counts(unchanged=2, deactivated=1)
    questions = stored(db)
    assert set(questions) == {101, 201, 202}
    assert questions[202].active is False and questions[201].active is True
    attempts = db.scalars(select(Attempt)).all()
    assert [(a.question_id, a.correct) for a in attempts] == [(202, True)]

    # Putting it back brings it back to life, once.
    write_content(tmp_path)
    assert load_content(db, root, TODAY).questions == Counts(updated=1, unchanged=2)
    db.commit()
    assert stored(db)[202].active is True


def test_a_removed_resource_becomes_inactive(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path)
    load_content(db, root, TODAY)
    db.commit()
    text = (root / "resources.yaml").read_text()
    (root / "resources.yaml").write_text(text.split("- id: kidney-basics")[0])
    assert load_content(db, root, TODAY).resources == Counts(unchanged=1, deactivated=1)
    db.commit()
    resource = db.get(Resource, "kidney-basics")
    assert resource is not None and resource.active is False


def test_content_with_errors_is_refused_and_nothing_is_written(db: Session, tmp_path: Path) -> None:
    root = write_content(tmp_path, renal=question(201, answer="E"))
    with pytest.raises(ContentError) as raised:
        load_content(db, root, TODAY)
    assert any("renal.yaml" in str(p) and "answer 'E'" in p.message for p in raised.value.problems)
    assert db.scalar(select(func.count()).select_from(Question)) == 0


def test_the_bundled_content_loads(db: Session) -> None:
    report = load_content(db, content_root(), TODAY)
    db.commit()
    total = db.scalar(select(func.count()).select_from(Question))
    assert report.questions.inserted == total >= 150
    assert load_content(db, content_root(), TODAY).changed is False


def test_the_bundled_content_still_loads_long_after_its_review_dates(db: Session) -> None:
    """A lapsed review_by lists the item as due for review; it never stops an install loading."""
    report = load_content(db, content_root(), date(2099, 1, 1))
    db.commit()
    assert report.questions.inserted > 0
    assert (
        db.scalar(select(func.count()).select_from(Question).where(Question.active))
        == report.questions.inserted
    )
