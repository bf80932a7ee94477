"""Files shipped with timetrack-sync outside the `sync` package: the examples, the migrations.

A checkout keeps them at the top of the repository; the wheel carries each top-level folder
inside the package as `sync/_<folder>` (pyproject.toml, force-include), so both places are tried.
"""

from __future__ import annotations

from pathlib import Path


def bundled(folder: str, *parts: str) -> Path:
    """A shipped file or folder, e.g. `bundled("examples", "people.csv")`, wheel or checkout."""
    package = Path(__file__).resolve().parent
    for root in (package / f"_{folder}", package.parent / folder):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{'/'.join((folder, *parts))} is missing from this installation")
