"""Console pages for content: questions with what they cost to send, resources, review-by dates.

Editors may correct a resource here, and take a question out of service or put it back; a
question's text changes only through the review workflow (/admin/items/<id>/edit), so no served
text skips its reviewers.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request
from sqlalchemy import func, select

from content.bank import EXPLANATION_MAX, QUESTION_SEGMENTS, render_question
from content.segments import count, normalise
from gateway.admin.web import EDITOR, PAGE_SIZE, back, console, db, not_found, page_number, requires, settings
from store.models import Question, Resource


def question_cost(question: Question) -> dict[str, Any]:
    sent = count(render_question(question))
    explanation = count(normalise(question.explanation))
    return {
        "segments": sent.segments,
        "encoding": sent.encoding,
        "units": sent.units,
        "explanation_units": explanation.units,
        "over": sent.segments > QUESTION_SEGMENTS or explanation.units > EXPLANATION_MAX,
    }


@console.get("/content")
def questions() -> str:
    session = db()
    topic = request.args.get("topic", "").strip()
    due = request.args.get("due") == "1"
    today = settings().clock.now().date()
    statement = select(Question)
    if topic:
        statement = statement.where(Question.topic == topic)
    if due:
        statement = statement.where(Question.review_by <= today)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = page_number()
    rows = list(
        session.scalars(statement.order_by(Question.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))
    )
    topics = list(session.scalars(select(Question.topic).distinct().order_by(Question.topic)))
    return render_template(
        "admin/questions.html",
        rows=[(q, question_cost(q)) for q in rows],
        topics=topics,
        topic=topic,
        due=due,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        today=today,
    )


def _question_or_404(question_id: int) -> Question:
    question = db().get(Question, question_id)
    if question is None:
        not_found(f"There is no question {question_id}.")
    return question


@console.route("/content/questions/<int:question_id>", methods=["GET", "POST"])
def question(question_id: int) -> Response | str:
    item = _question_or_404(question_id)
    if request.method == "GET":
        return render_template("admin/question.html", q=item, cost=question_cost(item), errors=[])
    return _save_question(item)


@requires(EDITOR)
def _save_question(item: Question) -> Response:
    """Only the active flag: taking an item out of service must not wait for a review."""
    item.active = request.form.get("active") == "on"
    db().commit()
    state = "in service" if item.active else "out of service"
    return back("admin.question", f"Question {item.id} is {state}.", question_id=item.id)


@console.get("/content/resources")
def resources() -> str:
    rows = list(db().scalars(select(Resource).order_by(Resource.id)))
    return render_template("admin/resources.html", rows=rows)


@console.route("/content/resources/<resource_id>", methods=["GET", "POST"])
def resource(resource_id: str) -> Response | str:
    item = db().get(Resource, resource_id)
    if item is None:
        not_found(f"There is no resource {resource_id!r}.")
    if request.method == "GET":
        return render_template("admin/resource.html", r=item, errors=[])
    return _save_resource(item)


@requires(EDITOR)
def _save_resource(item: Resource) -> Response | str:
    form = request.form
    title, url, note = (form.get(k, "").strip() for k in ("title", "url", "note"))
    errors = []
    if not title or len(title) > 80:
        errors.append("the title must be 1 to 80 characters")
    if not url.startswith(("https://", "http://")) or len(url) > 400:
        errors.append("the link must start with https:// and be at most 400 characters")
    if len(note) > 120:
        errors.append("the note must be at most 120 characters")
    if errors:
        return Response(render_template("admin/resource.html", r=item, errors=errors), 400)
    item.title, item.url, item.note = normalise(title), url, normalise(note) or None
    item.active = form.get("active") == "on"
    db().commit()
    return back("admin.resource", f"Resource {item.id} saved.", resource_id=item.id)
