"""Addresses: parse what Twilio (or an admin) gives into E.164 or a WhatsApp business-scoped user
id, and mask them for logs."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import phonenumbers
from phonenumbers import timezone as phone_timezones


class BadPhoneNumber(ValueError):
    pass


# A WhatsApp business-scoped user id: a country code, a period, up to 128 letters and digits
# (`US.13491208655302741918`; a parent id has `ENT.` after the country, `US.ENT.118...`).
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


@dataclass(frozen=True)
class Address:
    phone: str  # the person's key on the channel: E.164, or a WhatsApp BSUID (there may be no number)
    channel: str  # "sms" or "whatsapp"
    country: str | None  # ISO 3166 alpha-2, when known (never from a BSUID)
    number: str | None = None  # the E.164 phone number, when one is known
    bsuid: str | None = None  # WhatsApp's business-scoped user id, when the address is one


def is_bsuid(text: str) -> bool:
    return bool(_BSUID.fullmatch(text or ""))


def parse_address(raw: str, default_region: str | None = None) -> Address:
    """Parse `+2348031234567`, `whatsapp:+44 7700 900123`, `00 234 803...`, `whatsapp:US.1349...`."""
    text = (raw or "").strip()
    channel = "sms"
    if text.lower().startswith("whatsapp:"):
        channel = "whatsapp"
        text = text.split(":", 1)[1].strip()
        if is_bsuid(text):
            return Address(text, channel, None, bsuid=text)
    if not text:
        raise BadPhoneNumber("no phone number given")
    candidate = text
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    elif candidate[0].isdigit() and default_region is None:
        candidate = "+" + candidate  # WaId style: digits with the country code, no plus
    try:
        number = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise BadPhoneNumber(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise BadPhoneNumber(f"{raw!r} is not a possible phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    country = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code or 0
    )
    return Address(e164, channel, None if country in (None, "ZZ", "001") else country, number=e164)


def inbound_address(raw_from: str, wa_id: str | None = None) -> Address:
    """The sender of an inbound text, replied to on `From` whatever its shape.

    A WhatsApp user may come as a business-scoped id with no number (`From=whatsapp:US.1349...`);
    `WaId`, when it holds a number, adds it (and its country). A WhatsApp `From` that is neither
    falls back to `WaId`. Raises BadPhoneNumber when there is no usable address.
    """
    wa_number = None
    if wa_id and wa_id.strip().isdigit():
        try:
            wa_number = parse_address("whatsapp:+" + wa_id.strip())
        except BadPhoneNumber:
            wa_number = None
    try:
        address = parse_address(raw_from)
    except BadPhoneNumber:
        if wa_number is None or not (raw_from or "").strip().lower().startswith("whatsapp:"):
            raise
        return wa_number
    if address.bsuid and wa_number is not None:
        return replace(address, number=wa_number.phone, country=wa_number.country)
    return address


def time_zones_for(phone: str) -> list[str]:
    """IANA zones for a number's country/area; empty when unknown."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return []
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    if not zones:
        # Not a number the library knows to a zone (a test range, say): use its country's.
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        example = phonenumbers.example_number(region) if region else None
        if example is not None:
            zones = [z for z in phone_timezones.time_zones_for_number(example) if z != "Etc/Unknown"]
    return list(zones)


def mask(phone: str | None) -> str:
    """`+2348031234111` -> `+2348*****111`, for logs."""
    if not phone:
        return "-"
    prefix = "whatsapp:" if phone.startswith("whatsapp:") else ""
    digits = phone[len(prefix) :]
    if len(digits) <= 7:
        return prefix + digits[:2] + "*" * max(len(digits) - 2, 0)
    return prefix + digits[:5] + "*" * (len(digits) - 8) + digits[-3:]
