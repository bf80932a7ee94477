"""A proxy in front of the API that answers instead of it: a login page, or a body cut short.

Both are 200 answers a client must refuse rather than read as "no users": the login page is
HTML (what a single-sign-on proxy shows a session it does not know), the truncated body is
the API's own JSON cut in half with a matching Content-Length (a proxy that gave up
buffering), so no transport error gives it away.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse

from sync.timetrack.emulator.asgi import ASGIApp, Message, Receive, Scope, Send

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Corporate SSO</title></head>
<body>
  <h1>Sign in to continue</h1>
  <form method="post" action="/sso/login">
    <input name="user"><input name="password" type="password"><button>Sign in</button>
  </form>
</body>
</html>
"""


async def answer_as_proxy(
    page: str, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one API request as the proxy of `page` ("login" or "truncated") would."""
    if page == "login":
        await HTMLResponse(LOGIN_PAGE)(scope, receive, send)
        return
    start: Message = {}
    body = bytearray()

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, collect)
    cut = bytes(body[: len(body) // 2])
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(cut)).encode()))
    await send({"type": "http.response.start", "status": start["status"], "headers": headers})
    await send({"type": "http.response.body", "body": cut})
