"""Seed data for the TimeTrack emulator: generated realistic users, or a JSON / CSV seed file."""

from __future__ import annotations

import csv
import json
import random
import unicodedata
from pathlib import Path
from typing import Any

FIRST_NAMES = (
    "Zoë",
    "José",
    "Søren",
    "Łukasz",
    "Jürgen",
    "Renée",
    "Björn",
    "Ines",
    "François",
    "Chloé",
    "Anna",
    "Max",
    "Sophie",
    "Jonas",
    "Maria",
    "Paul",
    "Lea",
    "Lukas",
    "Ida",
    "Tomáš",
    "Małgorzata",
    "Åsa",
    "Ørjan",
    "Çağla",
    "Zoltán",
    "Núria",
    "Hélène",
    "Mia",
    "Emil",
    "Elif",
)
LAST_NAMES = (
    "Müller",
    "Schröder",
    "Meyer",
    "Weiß",
    "Groß",
    "Nowak",
    "Wiśniewski",
    "Jørgensen",
    "García",
    "Núñez",
    "Dubois",
    "Lefèvre",
    "Öztürk",
    "Šimek",
    "Andersson",
    "Schmidt",
    "Fischer",
    "Becker",
    "Hoffmann",
    "Kovačević",
    "Ferreira",
    "Conceição",
    "O'Brien",
    "van der Berg",
    "Straße",
)
LANGUAGES = ("de", "de", "en", "en", "fr")
BOOL_COLUMNS = ("admin", "teamLead", "enabled")
# Letters NFKD does not split into base + accent.
_ASCII = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "đ": "d"})


def ascii_fold(text: str) -> str:
    """Lower-case ASCII form of a name for usernames: Søren Müller -> soren muller."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _login(first: str, last: str) -> str:
    return "".join(c for c in f"{ascii_fold(first)}.{ascii_fold(last)}" if c.isalnum() or c == ".")


def generate_users(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` realistic users (umlauts, accents) with unique usernames, emails, personalNumbers."""
    rng = random.Random(seed)
    users: list[dict[str, Any]] = []
    taken: set[str] = set()
    numbers = rng.sample(range(100, 100 + max(count * 10, 1000)), count)
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        base = _login(first, last)
        username, suffix = base, 2
        while username in taken:
            username, suffix = f"{base}{suffix}", suffix + 1
        taken.add(username)
        number = numbers[index]
        personal = f"E-{number:05d}" if rng.random() < 0.7 else str(number)
        users.append(
            {
                "username": username,
                "firstName": first,
                "lastName": last,
                "email": f"{username}@example.com",
                "personalNumber": personal,
                "language": rng.choice(LANGUAGES),
                "admin": rng.random() < 0.05,
                "teamLead": rng.random() < 0.15,
                "enabled": True,
            }
        )
    return users


def load_seed_file(path: Path) -> list[dict[str, Any]]:
    """Users from a JSON list of objects or a CSV with a header row; ValueError if malformed."""
    text = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("["):
        data = json.loads(text)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ValueError(f"{path}: expected a JSON list of user objects")
        return [dict(item) for item in data]
    rows = list(csv.DictReader(text.splitlines()))
    if rows and None in rows[0]:
        raise ValueError(f"{path}: a row has more cells than the header")
    return [_csv_user(row) for row in rows]


def _csv_user(row: dict[str, str]) -> dict[str, Any]:
    user: dict[str, Any] = {}
    for name, cell in row.items():
        value = (cell or "").strip()
        if not value:
            continue  # an empty cell means "not given"
        if name in BOOL_COLUMNS:
            user[name] = value.lower() in ("1", "true", "yes", "y")
        else:
            user[name] = value
    return user
