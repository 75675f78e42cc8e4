"""Admin models: console accounts, API tokens, login throttling and broadcasts.

A broadcast's recipients are its outbox rows themselves (`messages.broadcast_id`,
kind `broadcast`, idempotency key `broadcast:<id>:<person_id>`), so progress is a count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, BigId, utcnow
from store.text import CleanString, CleanText

# AdminUser.role values, weakest first: a viewer reads, an editor also changes content,
# broadcasts and pairs, an admin also erases people and manages accounts.
VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"
ROLES = (VIEWER, EDITOR, ADMIN)
# Capabilities an account holds besides its rank, either or both (AdminUser.capabilities): an
# educator writes question drafts, a reviewer reviews and publishes other people's. An admin
# may do both, but nobody reviews an item they wrote.
EDUCATOR, REVIEWER = "educator", "reviewer"
CAPABILITIES = (EDUCATOR, REVIEWER)

# Broadcast.status values
DRAFT, QUEUED, SENDING, DONE, CANCELLED = "draft", "queued", "sending", "done", "cancelled"
BROADCAST_STATUSES = (DRAFT, QUEUED, SENDING, DONE, CANCELLED)

# Broadcast.schedule values: at once, at one UTC instant, or at a local clock time per recipient.
NOW, AT, LOCAL = "now", "at", "local"


class AdminUser(Base):
    """A person who signs in to the console or owns API tokens."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(CleanString(254), unique=True)
    password_hash: Mapped[str] = mapped_column(CleanString(255))
    role: Mapped[str] = mapped_column(CleanString(10), default=VIEWER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Carried in the session cookie; sign-out, a new password and `rounds admin disable` bump
    # it, so every cookie issued before stops working at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # educator and/or reviewer, next to the rank in `role`.
    capabilities: Mapped[list[str]] = mapped_column(default=list)

    def can(self, role: str) -> bool:
        """True when this user's role is `role` or stronger."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def holds(self, capability: str) -> bool:
        """True when this account may act as an educator or reviewer (an admin always may)."""
        return self.role == ADMIN or capability in (self.capabilities or [])

    @property
    def roles(self) -> list[str]:
        """The rank, then the capabilities held, e.g. ["viewer", "educator", "reviewer"]."""
        return [self.role, *(c for c in CAPABILITIES if c in (self.capabilities or []))]


class ApiToken(Base):
    """A bearer token for /api/v1; only its SHA-256 is stored, so a leak of the table is harmless."""

    __tablename__ = "admin_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(CleanString(64), unique=True)
    # The first characters, shown in lists so an admin can tell tokens apart.
    prefix: Mapped[str] = mapped_column(CleanString(16))
    label: Mapped[str | None] = mapped_column(CleanString(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginFailure(Base):
    """One failed console sign-in, counted per account (email) and per address to slow down guessing."""

    __tablename__ = "admin_login_failures"
    __table_args__ = (
        Index("ix_admin_login_failures_email_ip_at", "email", "ip", "at"),
        Index("ix_admin_login_failures_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(CleanString(254))
    ip: Mapped[str] = mapped_column(CleanString(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Broadcast(Base):
    """One message to a segment of students, with what the preview promised and what happened."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(CleanText)
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    schedule: Mapped[str] = mapped_column(CleanString(8), default=NOW)
    send_at: Mapped[datetime | None]
    local_time: Mapped[str | None] = mapped_column(CleanString(5))
    # An approved WhatsApp template (ContentSid) lets recipients outside the 24 h window in.
    whatsapp_template: Mapped[str | None] = mapped_column(CleanString(64))
    status: Mapped[str] = mapped_column(CleanString(10), default=DRAFT, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_users.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(CleanString(254))
    # Figures from the preview / fan-out.
    matched: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[dict[str, Any]] = mapped_column(default=dict)
    encoding: Mapped[str] = mapped_column(CleanString(8), default="GSM-7")
    segments_per_sms: Mapped[int] = mapped_column(Integer, default=1)
    total_segments: Mapped[int] = mapped_column(Integer, default=0)
    estimated_cost: Mapped[float] = mapped_column(Float, default=0.0)
    currency: Mapped[str] = mapped_column(CleanString(3), default="USD")
    error: Mapped[str | None] = mapped_column(CleanString(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    fanned_out_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
