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
# The seed files' and admin routes' name for `add_user(time_entries=...)`: not a field of the API.
TIME_ENTRIES_KEY = "timeEntries"
TIME_ENTRIES_RANGE = (1, 2000)
# Letters NFKD does not split into base + accent.
_ASCII = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "đ": "d"})


def ascii_fold(text: str) -> str:
    """Lower-case ASCII form of a name for usernames: Søren Müller -> soren muller."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _login(first: str, last: str) -> str:
    return "".join(c for c in f"{ascii_fold(first)}.{ascii_fold(last)}" if c.isalnum() or c == ".")


def generate_users(
    count: int, seed: int = 0, time_entries_share: float = 0.0
) -> list[dict[str, Any]]:
    """`count` realistic users (umlauts, accents) with unique usernames, emails, personalNumbers.

    `round(time_entries_share * count)` of them, picked by the seed, get `time_entries`.
    """
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
    # Dice of their own: the users for a seed stay the same whatever the share.
    dice = random.Random(f"time-entries/{seed}")
    for index in sorted(dice.sample(range(count), round(time_entries_share * count))):
        users[index]["time_entries"] = dice.randint(*TIME_ENTRIES_RANGE)
    return users


def seed_user(row: dict[str, Any]) -> dict[str, Any]:
    """A seed row as `add_user` keywords: its `timeEntries` (optional) becomes `time_entries`."""
    user = dict(row)
    if TIME_ENTRIES_KEY in user:
        user["time_entries"] = user.pop(TIME_ENTRIES_KEY)
    return user


def load_seed_file(path: Path) -> list[dict[str, Any]]:
    """Users from a JSON list of objects or a CSV with a header row; ValueError if malformed."""
    text = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("["):
        data = json.loads(text)
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ValueError(f"{path}: expected a JSON list of user objects")
        return [seed_user(item) for item in data]
    rows = list(csv.DictReader(text.splitlines()))
    if rows and None in rows[0]:
        raise ValueError(f"{path}: a row has more cells than the header")
    return [seed_user(_csv_user(row, path)) for row in rows]


def _csv_user(row: dict[str, str], path: Path) -> dict[str, Any]:
    user: dict[str, Any] = {}
    for name, cell in row.items():
        value = (cell or "").strip()
        if not value:
            continue  # an empty cell means "not given"
        if name in BOOL_COLUMNS:
            user[name] = value.lower() in ("1", "true", "yes", "y")
        elif name == TIME_ENTRIES_KEY:
            if not value.isdigit():
                raise ValueError(f"{path}: {name} must be a whole number >= 0, not {value!r}")
            user[name] = int(value)
        else:
            user[name] = value
    return user
