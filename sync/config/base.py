"""The base of every config model: frozen, unknown keys forbidden.

The models only say what is allowed; loading and error messages live in `sync.config.loader`
and `sync.config.problems`. A validator raises `ValueError("@sub: ...")` when its problem
belongs to another key than the one being validated; the problem report turns the marker into
that key's path.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """Base of every config model: frozen, unknown keys are errors."""

    # YAML gives numbers for things like api keys or personnel numbers: accept them as text.
    model_config = ConfigDict(
        frozen=True, extra="forbid", coerce_numbers_to_str=True, hide_input_in_errors=True
    )
