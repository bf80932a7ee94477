"""Write examples/people.csv: ~200 realistic, deterministic HR records (run to regenerate).

python examples/make_people.py [OUTPUT] [--count N] [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import random
import unicodedata
from pathlib import Path

COLUMNS = (
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "department",
    "role",
    "status",
    "language",
    "manager",
)
FIRST_NAMES = (
    "Anna", "Jörg", "Zoë", "François", "Müge", "Lukas", "Sophie", "Björn", "Chloé", "Jürgen",
    "Léa", "Mateo", "Élodie", "Søren", "Ines", "Paweł", "Ana", "Hannah", "José", "Noémie",
    "Felix", "Maëlle", "Stefan", "Åsa", "Niklas", "Renée", "Tomáš", "Emma", "Ümit", "Marie",
    "David", "Çağla", "Jonas", "Laura", "Sebastián", "Ingrid", "Kai", "Małgorzata", "Ben",
    "Gérald",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schäfer", "Koch", "Lefèvre", "Dubois", "García", "Núñez", "Jensen", "Öztürk", "Novák",
    "Kowalski", "Brandão", "Hoffmann", "Krüger", "Wolf", "Zimmermann", "Groß", "Lange",
    "Peña", "Åberg", "Bianchi", "O'Brien", "Martín", "Leclerc", "Fuchs", "Vogel", "Keller",
    "Dvořák", "Horváth", "Roussel", "von Bülow", "Y\u0131lmaz", "Larsen",
)  # fmt: skip
DEPARTMENTS = ("Engineering", "Sales", "Finance", "HR", "Marketing", "Support", "Operations")
LANGUAGES = ("de", "de", "de", "en", "en", "fr", "es", "")  # "" -> the mapping's default


def ascii_slug(text: str) -> str:
    """Lower-case ASCII for an email local part: 'Jörg Groß' -> 'jorg.gross'."""
    text = text.replace("ß", "ss").replace("ø", "o").replace("ł", "l").replace("\u0131", "i")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower().replace(" ", "-") if c.isalnum() or c in "-'")


def make_people(count: int, seed: int) -> list[dict[str, str]]:
    """`count` people: managers first per department, mostly active, a few leavers."""
    rng = random.Random(seed)
    people: list[dict[str, str]] = []
    used: set[str] = set()
    managers: dict[str, str] = {}
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{ascii_slug(first)}.{ascii_slug(last)}".replace("'", "")
        while local in used:
            local += str(rng.randint(1, 9))
        used.add(local)
        department = DEPARTMENTS[index % len(DEPARTMENTS)]
        is_manager = department not in managers or rng.random() < 0.04
        employee_id = f"{1001 + index}"
        if department not in managers:
            managers[department] = employee_id
        people.append(
            {
                "employee_id": employee_id,
                "first_name": first,
                "last_name": last,
                "email": f"{local}@example.com",
                "department": department,
                "role": "manager" if is_manager else "employee",
                "status": "terminated" if rng.random() < 0.04 else "active",
                "language": rng.choice(LANGUAGES),
                "manager": "" if is_manager else managers[department],
            }
        )
    return people


def main() -> None:
    """Write the CSV (UTF-8, comma-separated, header row)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", nargs="?", default=Path(__file__).with_name("people.csv"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with Path(args.output).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(make_people(args.count, args.seed))


if __name__ == "__main__":
    main()
