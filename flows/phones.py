"""Phone numbers: parse what Twilio (or an admin) gives into E.164, and mask them for logs."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as phone_timezones


class BadPhoneNumber(ValueError):
    pass


@dataclass(frozen=True)
class Address:
    phone: str  # E.164
    channel: str  # "sms" or "whatsapp"
    country: str | None  # ISO 3166 alpha-2, when known


def parse_address(raw: str, default_region: str | None = None) -> Address:
    """Parse `+2348031234567`, `whatsapp:+44 7700 900123`, `00 234 803...` and the like."""
    text = (raw or "").strip()
    channel = "sms"
    if text.lower().startswith("whatsapp:"):
        channel = "whatsapp"
        text = text.split(":", 1)[1].strip()
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
        number.country_code
    )
    return Address(e164, channel, None if country in (None, "ZZ", "001") else country)


def time_zones_for(phone: str) -> list[str]:
    """IANA zones for a number's country/area; empty when unknown."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return []
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    if not zones:
        # Not a number the library knows to a zone (a test range, say): use its country's.
        region = phonenumbers.region_code_for_country_code(number.country_code)
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
