"""Executable model of the TimeTrack users API: a Starlette app with a switch for every unknown.

Routes under /api/v2/ext/ follow the vendor's users page (auth headers, paging, filters,
required fields, PUT refusing username/enabled) and its help page (a user with recorded time
entries cannot be deleted); routes under /_emulator/ let tests look behind the API, do what
only an admin can in the web UI (deactivate a user) and change switches. Faults (latency,
500, 429, dropped connections) apply to the API routes only and are drawn from
`random.Random(options.seed)`, so a test repeats; beside them, an optional server-side rate
limit (a token bucket on the state's clock) answers 429 with the seconds until its next token.
Two more switches are deterministic: an admin changing users between the pages of a listing
(`churn`), and a proxy answering in the API's place (`proxy`: an HTML login page or a
truncated body).

One concern per module: `app` (routes, rendering), `store` (users with the API's semantics),
`fields` (field names and value cleaning), `errors` (`ApiError`), `faults` (the seeded dice),
`bucket` (the server's rate limit), `middleware` (applying faults and the limit over ASGI;
`asgi` its type names), `churn`, `proxy`, `audit` (writes, request and answer counters),
`state` (all of these reset together), `options`, `seed` and
`serve`. It imports nothing from the client.
"""

from __future__ import annotations

from sync.timetrack.emulator.app import API_PREFIX, create_app, render_user
from sync.timetrack.emulator.audit import WriteRecord
from sync.timetrack.emulator.errors import ApiError
from sync.timetrack.emulator.options import EmulatorOptions
from sync.timetrack.emulator.seed import generate_users, load_seed_file
from sync.timetrack.emulator.serve import RunningEmulator, run_emulator_cli, serve_in_thread
from sync.timetrack.emulator.state import EmulatorState

__all__ = [
    "API_PREFIX",
    "ApiError",
    "EmulatorOptions",
    "EmulatorState",
    "RunningEmulator",
    "WriteRecord",
    "create_app",
    "generate_users",
    "load_seed_file",
    "render_user",
    "run_emulator_cli",
    "serve_in_thread",
]
