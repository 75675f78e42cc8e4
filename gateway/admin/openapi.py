"""The OpenAPI 3.1 description of /api/v1, written by hand next to the views it describes."""

from __future__ import annotations

from typing import Any

from store.opportunities import KINDS
from workers.broadcasts import SEGMENT_KEYS

_SHARES = {
    "type": "object",
    "additionalProperties": {"type": ["number", "null"]},
    "description": "letter -> 0..1",
}
REPORT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "question_id": {"type": "integer"},
        "question_version": {"type": "integer"},
        "text": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "resolved"]},
        "created_at": {"type": "string", "format": "date-time"},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "resolved_by": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]},
    },
}
ITEM_STATS = {
    "type": "object",
    "properties": {
        "question_id": {"type": "integer"},
        "version": {"type": "integer"},
        "answered": {"type": "integer"},
        "difficulty": {"type": "number", "description": "share correct, 0..1"},
        "discrimination": {"type": ["number", "null"], "description": "point-biserial, -1..1"},
        "median_seconds": {"type": ["number", "null"]},
        "key": {"type": ["string", "null"]},
        "options": _SHARES,
        "top_quartile": {
            "type": "object",
            "properties": {"answered": {"type": "integer"}, "options": _SHARES},
        },
        "bottom_quartile": {
            "type": "object",
            "properties": {"answered": {"type": "integer"}, "options": _SHARES},
        },
        "flags": {
            "type": "array",
            "items": {
                "type": "string",
                "enum": ["too_easy", "too_hard", "negative_discrimination", "distractor_beats_key"],
            },
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
}
WRITE_ERRORS = ERRORS | {"403": {"$ref": "#/components/responses/Forbidden"}}
NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}


def _text_path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [
    _query("page", {"type": "integer", "minimum": 1}),
    _query("per_page", {"type": "integer", "maximum": 200}),
]
STUDENT_FILTERS = [
    _query("q", {"type": "string"}, "part of a name or number"),
    _query("track", {"type": "string"}),
    _query("country", {"type": "string"}, "ISO 3166 alpha-2"),
    _query("language", {"type": "string"}),
    _query("channel", {"type": "string", "enum": ["sms", "whatsapp"]}),
    _query("status", {"type": "string", "enum": ["active", "paused", "opted_out"]}),
]

BROADCAST_INPUT = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "maxLength": 1600},
        "segment": {
            "type": "object",
            "description": "every key must match; a list gives alternatives. Dates are ISO 8601; "
            "last-active and inactive take spans such as 7d, 48h, 2w; "
            "mentor is any, none or a mentor's phone",
            "propertyNames": {"enum": list(SEGMENT_KEYS)},
            "additionalProperties": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
        "at": {
            "type": "string",
            "format": "date-time",
            "description": "send at this instant (UTC if no offset)",
        },
        "local": {
            "type": "string",
            "pattern": "^\\d{2}:\\d{2}$",
            "description": "send at this clock time in each recipient's zone",
        },
        "whatsapp_template": {
            "type": "string",
            "description": "approved template ContentSid for recipients outside the 24 h window",
        },
        "draft": {"type": "boolean", "description": "store without sending"},
        "over_budget_ok": {
            "type": "boolean",
            "description": "send although the month's spend projects over ROUNDS_MONTHLY_BUDGET (or this "
            "broadcast would push it over); without it such a broadcast is answered 409 with the figures",
        },
    },
}


OPPORTUNITY_INPUT = {
    "type": "object",
    "required": ["title", "org", "kind", "deadline", "link"],
    "properties": {
        "title": {"type": "string", "maxLength": 80},
        "org": {"type": "string", "maxLength": 60},
        "kind": {"type": "string", "enum": list(KINDS)},
        "deadline": {"type": "string", "format": "date", "description": "expires after this date"},
        "link": {"type": "string", "maxLength": 400, "description": "https://..."},
        "countries": {
            "type": "array",
            "items": {"type": "string"},
            "description": "ISO 3166 alpha-2; none: all",
        },
        "tracks": {"type": "array", "items": {"type": "string"}, "description": "track keys; none: all"},
    },
}


_COST_GROUP = {
    "type": "object",
    "properties": {
        "country": {"type": "string", "description": "ISO 3166 alpha-2; ?? when unknown"},
        "channel": {"type": "string", "enum": ["sms", "whatsapp"]},
        "learners": {"type": "integer", "minimum": 10},
        "messages": {"type": "integer"},
        "segments": {"type": "integer"},
        "price": {"type": "number", "description": "per SMS segment, or per WhatsApp message"},
        "price_source": {"type": "string", "description": "Twilio YYYY-MM-DD (synced) or prices.yaml"},
        "estimated_cost": {"type": "number"},
        "actual_cost": {"type": "number", "description": "over the priced messages only"},
        "priced": {"type": "integer", "description": "messages whose actual cost is known"},
        "actual_unit": {"type": "string"},
    },
}
COST_SHEET = {
    "type": "object",
    "properties": {
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "currency": {"type": "string"},
        "min_group": {"type": "integer"},
        "suppressed_groups": {"type": "integer"},
        "groups": {"type": "array", "items": _COST_GROUP},
        "shown_totals": {"type": "object"},
        "whatsapp_window": {
            "type": "object",
            "description": "pushes (not replies) to WhatsApp students, and how many left inside the free "
            "24 h window (within 24 h of the student's last WhatsApp message); by country, groups under "
            "10 learners left out and counted",
            "properties": {
                "pushes": {"type": "integer"},
                "in_window": {"type": "integer"},
                "share": {"type": ["number", "null"], "description": "a fraction 0-1; null: no pushes shown"},
                "suppressed_groups": {"type": "integer"},
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "country": {"type": "string"},
                            "learners": {"type": "integer", "minimum": 10},
                            "pushes": {"type": "integer"},
                            "in_window": {"type": "integer"},
                            "share": {"type": "number"},
                        },
                    },
                },
            },
        },
        "budget": {"$ref": "#/components/schemas/Budget"},
    },
}
_MONEY = {"type": "number", "description": "in the price table's currency (USD by default)"}
BUDGET = {
    "type": "object",
    "description": "this UTC month's spend against ROUNDS_MONTHLY_BUDGET; projected is the spend so far "
    "plus the mean daily spend of the last rate_days whole days times the days left",
    "properties": {
        "month": {"type": "string", "pattern": "^\\d{4}-\\d{2}$"},
        "currency": {"type": "string"},
        "budget": {"type": ["number", "null"], "description": "null: no budget set"},
        "spend_to_date": _MONEY | {"description": "Twilio's price where known, else the estimate"},
        "actual_to_date": _MONEY | {"description": "the part of spend_to_date Twilio has priced"},
        "daily_rate": _MONEY,
        "rate_days": {"type": "integer"},
        "days_left": {"type": "number"},
        "projected": _MONEY,
        "over_budget": {"type": "boolean"},
        "alerted_at": {"type": ["string", "null"], "format": "date-time"},
        "learner_month_days": {"type": "integer"},
        "min_group": {"type": "integer"},
        "suppressed_groups": {"type": "integer", "description": "countries under min_group active learners"},
        "cost_per_learner_month": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "country": {"type": "string"},
                    "learners": {"type": "integer", "description": "students who texted in the last 30 days"},
                    "spend": _MONEY,
                    "per_learner_month": _MONEY,
                },
            },
        },
    },
}
BUDGET_CONFLICT = {
    "type": "object",
    "required": ["error", "budget"],
    "properties": {
        "error": {"type": "string"},
        "budget": {
            "type": "object",
            "properties": {
                name: _MONEY
                for name in (
                    "budget",
                    "spend_to_date",
                    "projected",
                    "broadcast_cost",
                    "projected_with_broadcast",
                )
            }
            | {"month": {"type": "string"}, "currency": {"type": "string"}},
        },
        "preview": {"type": "object"},
    },
}


_RATE = {"type": ["number", "null"], "description": "a fraction 0-1; null where nobody qualifies"}
IMPACT = {
    "type": "object",
    "properties": {
        "by": {"type": "string"},
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "as_of": {"type": ["string", "null"], "format": "date", "description": "the last day rolled up"},
        "currency": {"type": "string"},
        "min_group": {"type": "integer"},
        "suppressed_groups": {"type": "integer"},
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "group": {"type": "string"},
                    "learners": {"type": "integer", "description": "in touch with Rounds in the dates"},
                    "active_7": {"type": "integer"},
                    "active_30": {"type": "integer"},
                    "answered": {"type": "integer"},
                    "accuracy": _RATE,
                    "first_accuracy": _RATE
                    | {"description": "over the first 20 answers of learners with 40+"},
                    "latest_accuracy": _RATE | {"description": "over their latest 20"},
                    "gain": {"type": ["number", "null"]},
                    "retrievability": _RATE,
                    "retention": {"type": "array", "items": {"type": "object"}},
                    "certificates": {"type": "integer"},
                    "checkin_replies": {"type": "integer"},
                    "mentor_pairs": {"type": "integer"},
                    "resource_clicks": {"type": ["integer", "null"]},
                    "opportunity_clicks": {"type": ["integer", "null"]},
                    "messages": {"type": "integer"},
                    "segments": {"type": "integer"},
                    "estimated_cost": {"type": "number"},
                    "actual_cost": {"type": "number"},
                    "learner_months": {"type": "number"},
                    "cost_per_learner_month": {"type": ["number", "null"]},
                },
            },
        },
        "equity": {"type": "object"},
    },
}


# A figure of 1 to 9 clicks is null (the privacy rule; gateway/admin/clicks.py).
_CELLS = {"type": "object", "additionalProperties": {"type": ["integer", "null"]}}
CLICKS = {
    "type": "object",
    "description": "people opening the short link (previews, bots and prefetches are not counted); "
    "a total, channel or country of 1 to 9 clicks is null, and so is the next smallest cell "
    "when only one is",
    "properties": {
        "total": {"type": ["integer", "null"]},
        "by_channel": _CELLS | {"description": "sms, whatsapp"},
        "by_country": _CELLS | {"description": "ISO 3166 alpha-2, or unknown"},
    },
}


QUESTION_INPUT = {
    "type": "object",
    "description": "every field optional in a draft; all are checked when it is submitted. "
    "A translation (?language=fr|es) takes only stem, options and explanation.",
    "properties": {
        "topic": {"type": "string"},
        "tracks": {"type": "array", "items": {"type": "string"}},
        "difficulty": {"type": "integer", "enum": [1, 2, 3]},
        "locale": {"type": "string", "enum": ["us", "uk", "intl"]},
        "stem": {"type": "string"},
        "options": {
            "type": "object",
            "required": ["A", "B", "C", "D"],
            "properties": {letter: {"type": "string"} for letter in "ABCD"},
        },
        "answer": {"type": "string", "enum": ["A", "B", "C", "D"]},
        "explanation": {"type": "string"},
        "sources": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string"},
                    "edition": {"type": "string", "description": "edition or year"},
                    "url": {"type": "string", "format": "uri"},
                },
            },
        },
        "review_by": {"type": "string", "format": "date"},
        "pair_with": {"type": "array", "items": {"type": "integer"}},
        "pair_reason": {"type": "string"},
    },
}
_LANGUAGE = {
    "name": "language",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["en", "fr", "es"]},
    "description": "which language's versions (default en); each is reviewed and published on its own",
}


def question_paths(ok: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """The educators' question workflow: drafts, versions, reviews, publishing."""
    item = [_id("id"), _LANGUAGE]
    body = {"content": {"application/json": {"schema": _ref("QuestionInput")}}}
    refused = WRITE_ERRORS | NOT_FOUND | {"409": {"$ref": "#/components/responses/Conflict"}}
    return {
        "/questions": {
            "get": {
                "summary": "Questions at their newest version per language, with their published version "
                "and approvals",
                "parameters": [
                    _query("status", {"type": "string", "enum": ["draft", "review", "published", "retired"]}),
                    _query("topic", {"type": "string"}),
                    _query("track", {"type": "string"}),
                    _LANGUAGE,
                ],
                "responses": ok(obj) | ERRORS,
            },
            "post": {
                "summary": "Write a new question as a draft (educator)",
                "requestBody": body,
                "responses": {"201": _json(obj, "Created")} | WRITE_ERRORS,
            },
        },
        "/questions/{id}": {
            "get": {
                "summary": "A question's versions in one language, each with its reviews",
                "parameters": item,
                "responses": ok(obj) | ERRORS | NOT_FOUND,
            },
            "patch": {
                "summary": "Edit the open draft (its author), or start a new draft version of a published "
                "item (educator); a change of stem, options, answer or explanation sets approvals aside",
                "parameters": item,
                "requestBody": body,
                "responses": ok(obj) | refused,
            },
        },
        "/questions/{id}/diff": {
            "get": {
                "summary": "What changed between two versions, field by field (options per letter)",
                "parameters": [
                    *item,
                    _query("from", {"type": "integer"}),
                    _query("to", {"type": "integer"}),
                ],
                "responses": ok(obj) | ERRORS | NOT_FOUND,
            }
        },
        "/questions/{id}/submit": {
            "post": {
                "summary": "Submit the draft for review (its author); 400 with `problems`, every check "
                "`rounds content check` makes on an item, when it does not pass",
                "parameters": item,
                "responses": ok(obj) | refused,
            }
        },
        "/questions/{id}/reviews": {
            "post": {
                "summary": "Approve the submitted version, or ask for changes with a note (reviewer; never "
                "the author)",
                "parameters": item,
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["verdict"],
                                "properties": {
                                    "verdict": {"type": "string", "enum": ["approve", "changes"]},
                                    "note": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": _json(obj, "Created")} | refused,
            }
        },
        "/questions/{id}/publish": {
            "post": {
                "summary": "Publish the submitted version once it has ROUNDS_REVIEWS_REQUIRED approvals "
                "(reviewer): students are served it from then on",
                "parameters": item,
                "responses": ok(obj) | refused,
            }
        },
    }


PROGRAM_INPUT = {
    "type": "object",
    "description": "every field optional in a draft (code only when it is new); all are checked as "
    "`rounds content check` checks programs/*.yaml when it is submitted",
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z0-9]{2,8}$"},
        "title": {"type": "object", "properties": {lang: {"type": "string"} for lang in ("en", "fr", "es")}},
        "summary": {
            "type": "object",
            "properties": {lang: {"type": "string"} for lang in ("en", "fr", "es")},
        },
        "tracks": {"type": "array", "items": {"type": "string"}},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["lesson", "questions"],
                "properties": {
                    "lesson": {
                        "type": "object",
                        "properties": {lang: {"type": "string"} for lang in ("en", "fr", "es")},
                    },
                    "questions": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "minItems": 1,
                        "maxItems": 3,
                    },
                },
            },
        },
    },
}


def program_paths(ok: Any, obj: dict[str, Any]) -> dict[str, Any]:
    """The educators' program workflow: the question bank's rules (new versions, reviews, publishing)."""
    code = [_text_path("code")]
    refused = WRITE_ERRORS | NOT_FOUND | {"409": {"$ref": "#/components/responses/Conflict"}}
    return {
        "/programs/{code}": {
            "patch": {
                "summary": "Edit the open draft (its author), or start a new draft version of a program "
                "(educator); any change sets approvals aside",
                "parameters": code,
                "requestBody": {"content": {"application/json": {"schema": _ref("ProgramInput")}}},
                "responses": ok(obj) | refused,
            }
        },
        "/programs/{code}/versions": {
            "get": {
                "summary": "A program's versions, each with its reviews (the history)",
                "parameters": code,
                "responses": ok(obj) | ERRORS | NOT_FOUND,
            }
        },
        "/programs/{code}/submit": {
            "post": {
                "summary": "Submit the draft for review (its author); 400 with `problems`, the checks "
                "`rounds content check` makes on a program, when it does not pass",
                "parameters": code,
                "responses": ok(obj) | refused,
            }
        },
        "/programs/{code}/reviews": {
            "post": {
                "summary": "Approve the submitted version, or ask for changes with a note (reviewer; never "
                "the author); the approval that makes ROUNDS_REVIEWS_REQUIRED publishes it",
                "parameters": code,
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["verdict"],
                                "properties": {
                                    "verdict": {"type": "string", "enum": ["approve", "changes"]},
                                    "note": {"type": "string"},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": _json(obj, "Created")} | refused,
            }
        },
        "/programs/{code}/publish": {
            "post": {
                "summary": "Publish the submitted version once it has ROUNDS_REVIEWS_REQUIRED approvals "
                "(reviewer): enrolled students go on from their day number, new ones get this version",
                "parameters": code,
                "responses": ok(obj) | refused,
            }
        },
    }


def spec(server: str) -> dict[str, Any]:
    """The document served at /api/v1/openapi.json, with `server` as its base URL."""
    ok = lambda schema, text="OK": {"200": _json(schema, text)}  # noqa: E731
    obj = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rounds admin API",
            "version": "1.0.0",
            "description": "Students, mentors, pairs, broadcasts, stats and safeguarding flags. "
            "Create a token with `rounds admin token EMAIL`; viewers may read, editors and admins "
            'may also write, admins alone may export or erase a person\'s data. Errors are {"error": "..."}.',
        },
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "paths": {
            "/students": {
                "get": {
                    "summary": "Search students",
                    "parameters": STUDENT_FILTERS + PAGING,
                    "responses": ok(obj) | ERRORS,
                }
            },
            "/students/{id}": {
                "get": {
                    "summary": "A student with learning figures and mentor",
                    "parameters": [_id("id")],
                    "responses": ok(obj) | ERRORS | NOT_FOUND,
                }
            },
            "/students/{id}/messages": {
                "get": {
                    "summary": "A student's conversation, newest first pages via before=<message id>",
                    "parameters": [
                        _id("id"),
                        _query("limit", {"type": "integer"}),
                        _query("before", {"type": "integer"}),
                    ],
                    "responses": ok(obj) | ERRORS | NOT_FOUND,
                }
            },
            "/students/{id}/export": {
                "get": {
                    "summary": "Everything held about a person (admin)",
                    "parameters": [_id("id")],
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/students/{id}/erase": {
                "post": {
                    "summary": "Erase a person's personal data, keeping anonymous aggregates (admin)",
                    "parameters": [_id("id")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["confirm"],
                                    "properties": {"confirm": {"const": True}},
                                }
                            }
                        },
                    },
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/mentors": {
                "get": {"summary": "Mentors with their mentee counts", "responses": ok(obj) | ERRORS},
                "post": {
                    "summary": "Add or update a mentor (editor)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["phone", "name"],
                                    "properties": {
                                        "phone": {"type": "string"},
                                        "name": {"type": "string"},
                                        "tracks": {"type": "array", "items": {"type": "string"}},
                                        "languages": {"type": "array", "items": {"type": "string"}},
                                        "capacity": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"201": _json(obj, "Created")} | WRITE_ERRORS,
                },
            },
            "/pairs": {
                "get": {"summary": "Current mentor-student pairs", "responses": ok(obj) | ERRORS},
                "post": {
                    "summary": "Pair a mentor and a student by phone (editor)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["mentor", "student"],
                                    "properties": {
                                        "mentor": {"type": "string"},
                                        "student": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"201": _json(obj, "Created")} | WRITE_ERRORS,
                },
            },
            "/pairs/{student_id}": {
                "delete": {
                    "summary": "End a student's pairing (editor)",
                    "parameters": [_id("student_id")],
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/broadcasts": {
                "get": {"summary": "Broadcast history", "parameters": PAGING, "responses": ok(obj) | ERRORS},
                "post": {
                    "summary": "Create and send a broadcast (editor); 202 while it fans out, 201 for a "
                    "draft; 409 with the budget figures when the month projects over budget, unless "
                    "over_budget_ok",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BroadcastInput")}},
                    },
                    "responses": {
                        "202": _json(obj, "Accepted"),
                        "201": _json(obj, "Draft stored"),
                        "409": _json(_ref("BudgetConflict"), "Over budget: confirm with over_budget_ok"),
                        "503": {"$ref": "#/components/responses/Unavailable"},
                    }
                    | WRITE_ERRORS,
                },
            },
            "/broadcasts/preview": {
                "post": {
                    "summary": "Recipients, encoding, segments and cost, without sending",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BroadcastInput")}},
                    },
                    "responses": ok(obj) | ERRORS,
                }
            },
            "/broadcasts/{id}": {
                "get": {
                    "summary": "A broadcast with its progress and failure reasons",
                    "parameters": [_id("id")],
                    "responses": ok(obj) | ERRORS | NOT_FOUND,
                }
            },
            "/broadcasts/{id}/cancel": {
                "post": {
                    "summary": "Cancel; queued messages are not sent (editor)",
                    "parameters": [_id("id")],
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/broadcasts/{id}/send": {
                "post": {
                    "summary": 'Send a draft (editor); over budget, needs {"over_budget_ok": true} '
                    "like POST /broadcasts",
                    "parameters": [_id("id")],
                    "responses": {"202": _json(obj, "Accepted")}
                    | WRITE_ERRORS
                    | NOT_FOUND
                    | {"409": _json(_ref("BudgetConflict"), "Over budget: confirm with over_budget_ok")},
                }
            },
            "/stats": {
                "get": {
                    "summary": "Dashboard series: active students, answers, delivery, opt-outs, flags, "
                    "accuracy by topic",
                    "parameters": [_query("days", {"type": "integer"})],
                    "responses": ok(obj) | ERRORS,
                }
            },
            "/flags": {
                "get": {
                    "summary": "Safeguarding flags",
                    "parameters": [
                        _query("status", {"type": "string", "enum": ["open", "all"]}),
                        _query("limit", {"type": "integer"}),
                    ],
                    "responses": ok(obj) | ERRORS,
                }
            },
            "/flags/{id}/resolve": {
                "post": {
                    "summary": "Mark a flag resolved (editor)",
                    "parameters": [_id("id")],
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/opportunities": {
                "get": {
                    "summary": "Opportunities, nearest deadline first, with their status today "
                    "and their short-link clicks",
                    "parameters": [
                        _query("status", {"type": "string", "enum": ["draft", "approved", "expired"]})
                    ],
                    "responses": ok(
                        {
                            "type": "object",
                            "properties": {
                                "opportunities": {
                                    "type": "array",
                                    "items": {"type": "object", "properties": {"clicks": _ref("Clicks")}},
                                }
                            },
                        }
                    )
                    | ERRORS,
                },
                "post": {
                    "summary": "Add an opportunity as a draft (editor); an admin approves it",
                    "requestBody": {"content": {"application/json": {"schema": _ref("OpportunityInput")}}},
                    "responses": {"201": _json(obj, "Created")} | WRITE_ERRORS,
                },
            },
            "/opportunities/{id}/approve": {
                "post": {
                    "summary": "Approve a draft opportunity (admin): students can text OPP for it",
                    "parameters": [_id("id")],
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/programs": {
                "get": {
                    "summary": "Programs: enrolments per program and per day (drop-off), completions, "
                    "certificates, next cohort; counts under 10 are null",
                    "responses": ok(obj) | ERRORS,
                },
                "post": {
                    "summary": "Write a new program as a draft (educator); its code must be free",
                    "requestBody": {"content": {"application/json": {"schema": _ref("ProgramInput")}}},
                    "responses": {"201": _json(obj, "Created")} | WRITE_ERRORS,
                },
            },
            "/programs/{code}/cohorts": {
                "post": {
                    "summary": "Open a cohort of a program (admin): JOIN before it starts, begin together",
                    "parameters": [_text_path("code")],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["starts_on"],
                                    "properties": {"starts_on": {"type": "string", "format": "date"}},
                                }
                            }
                        }
                    },
                    "responses": {"201": _json(obj, "Created")} | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/certificates": {
                "get": {"summary": "Program certificates, latest first", "responses": ok(obj) | ERRORS}
            },
            "/certificates/{code}/revoke": {
                "post": {
                    "summary": "Revoke a certificate (admin): VERIFY and /verify then say it was withdrawn",
                    "parameters": [_text_path("code")],
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/costs": {
                "get": {
                    "summary": "Estimated cost (synced prices, else prices.yaml; each group says which) next "
                    "to the actual cost Twilio charged, by country and channel; and under budget, this "
                    "month's spend, its projection against ROUNDS_MONTHLY_BUDGET and the cost per active "
                    "learner-month by country; groups under 10 learners are left out and counted",
                    "parameters": [
                        _query("from", {"type": "string", "format": "date"}, "default: 30 days before to"),
                        _query("to", {"type": "string", "format": "date"}, "inclusive; default: today (UTC)"),
                    ],
                    "responses": ok(_ref("CostSheet")) | ERRORS,
                }
            },
            "/impact": {
                "get": {
                    "summary": "Impact figures from the nightly rollups: learners in touch, active in 7 "
                    "and 30 days, retention by week since joining, first and latest 20 answers, FSRS "
                    "retrievability, "
                    "certificates, check-in replies, mentor pairs, clicks (by country or channel only), "
                    "messages, segments, estimated and actual cost, cost per learner-month, and the equity "
                    "panel by country; groups under 10 learners are left out and counted",
                    "parameters": [
                        _query(
                            "by",
                            {"type": "string", "enum": ["country", "channel", "track", "language", "cohort"]},
                            "default country; cohort is the join month",
                        ),
                        _query("from", {"type": "string", "format": "date"}, "default: 90 days before to"),
                        _query(
                            "to", {"type": "string", "format": "date"}, "inclusive; default: yesterday (UTC)"
                        ),
                    ],
                    "responses": ok(_ref("Impact")) | ERRORS,
                }
            },
            "/links/clicks": {
                "get": {
                    "summary": "Short-link clicks per resource or opportunity, summed over UTC days",
                    "parameters": [
                        _query(
                            "kind",
                            {"type": "string", "enum": ["resource", "opportunity"]},
                            "default resource",
                        ),
                        _query("from", {"type": "string", "format": "date"}, "first UTC day"),
                        _query("to", {"type": "string", "format": "date"}, "last UTC day"),
                    ],
                    "responses": ok(
                        {
                            "type": "object",
                            "properties": {
                                "kind": {"type": "string"},
                                "min_cell": {"type": "integer"},
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "id": {"type": "string"},
                                            "title": {"type": "string"},
                                            "clicks": _ref("Clicks"),
                                        },
                                    },
                                },
                            },
                        }
                    )
                    | ERRORS,
                }
            },
            **question_paths(ok, obj),
            **program_paths(ok, obj),
            "/reports": {
                "get": {
                    "summary": "Students' reports on questions (REPORT Q17 ...), newest first; their words "
                    "and the version asked, never who sent them",
                    "parameters": [
                        _query(
                            "status", {"type": "string", "enum": ["open", "resolved", "all"]}, "default open"
                        ),
                        _query("limit", {"type": "integer", "maximum": 1000}),
                    ],
                    "responses": ok(
                        {
                            "type": "object",
                            "properties": {"reports": {"type": "array", "items": _ref("Report")}},
                        }
                    )
                    | ERRORS,
                }
            },
            "/reports/{id}/resolve": {
                "post": {
                    "summary": "Resolve a report with a note (reviewer); with all, every open report on its "
                    "version. A question held by reports is served again once fewer than three students' "
                    "reports on it stay open",
                    "parameters": [_id("id")],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["note"],
                                    "properties": {
                                        "note": {"type": "string", "maxLength": 500},
                                        "all": {"type": "boolean", "default": False},
                                    },
                                }
                            }
                        }
                    },
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/questions/{id}/stats": {
                "get": {
                    "summary": "Item statistics per version: answered, share correct, point-biserial "
                    "discrimination against the rest score, option shares overall and in the top and bottom "
                    "quartiles of students by accuracy, median response time, and flags (after "
                    "min_answered_for_flags answers)",
                    "parameters": [_id("id")],
                    "responses": ok(
                        {
                            "type": "object",
                            "properties": {
                                "question_id": {"type": "integer"},
                                "min_answered_for_flags": {"type": "integer"},
                                "versions": {"type": "array", "items": _ref("ItemStats")},
                            },
                        }
                    )
                    | ERRORS
                    | NOT_FOUND,
                }
            },
            "/questions/{id}/retract": {
                "post": {
                    "summary": "Retire a question, or with key publish a corrected version (reviewer); each "
                    "student who answered the affected version in the last ROUNDS_CORRECTION_DAYS gets one "
                    "correction text outside their quiet hours. Again for the same change: nothing new",
                    "parameters": [_id("id")],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["reason"],
                                    "properties": {
                                        "reason": {"type": "string", "maxLength": 200},
                                        "key": {"type": "string", "pattern": "^[A-Ea-e]$"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": ok(obj) | WRITE_ERRORS | NOT_FOUND,
                }
            },
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": ok(obj)}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "BroadcastInput": BROADCAST_INPUT,
                "OpportunityInput": OPPORTUNITY_INPUT,
                "Clicks": CLICKS,
                "CostSheet": COST_SHEET,
                "Budget": BUDGET,
                "BudgetConflict": BUDGET_CONFLICT,
                "QuestionInput": QUESTION_INPUT,
                "ProgramInput": PROGRAM_INPUT,
                "Report": REPORT,
                "ItemStats": ITEM_STATS,
                "Impact": IMPACT,
            },
            "responses": {
                name: _json(_ref("Error"), text)
                for name, text in (
                    ("BadRequest", "The input is wrong; the error says what to change"),
                    ("Unauthorized", "No token, or an unknown or revoked one"),
                    ("Forbidden", "The token's role is not allowed to do this"),
                    ("NotFound", "No such id or path"),
                    ("Conflict", "Not in a state for this yet (e.g. too few approvals); the error says why"),
                    ("Unavailable", "The job queue is down; nothing was sent"),
                )
            },
        },
    }
