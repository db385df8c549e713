"""Logs a user in with Telethon against the mock DC and prints its StringSession, so the gateway
can import a session that a third-party client really created (issue 5 item 5).

    python telethon_session_export.py READY_FILE '{"dc_id":2,"phone":"+1555..."}'

Prints one JSON line on stdout: {"ok": true, "session": "1...", "user_id": N} or
{"ok": false, "step": "...", "error": "..."}. The client disconnects without logging out, as a
user moving a session to the gateway would; the key stays valid.
"""

import asyncio
import json
import sys
import urllib.parse
import urllib.request

from telethon import TelegramClient
from telethon.sessions import StringSession

from mock_common import StepFailed, install_rsa_key, read_ready

STEP_TIMEOUT = 15.0
# Loopback only: never go through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def login_code(ready, phone):
    url = f"{ready['control_url'].rstrip('/')}/v1/login-codes/{urllib.parse.quote(phone, safe='')}"
    with _HTTP.open(url, timeout=STEP_TIMEOUT) as resp:
        code = json.loads(resp.read().decode("utf-8")).get("code")
    if not isinstance(code, str) or not code:
        raise StepFailed("read login code", f"GET {url} gave no code")
    return code


async def step(name, awaitable):
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT)
    except asyncio.TimeoutError:
        raise StepFailed(name, f"timeout after {STEP_TIMEOUT} s") from None
    except StepFailed:
        raise
    except Exception as e:  # the step name says where; the class and text say what
        raise StepFailed(name, f"{type(e).__name__}: {e}") from e


async def run(ready, scenario):
    dc = next((d for d in ready["dcs"] if d["id"] == scenario["dc_id"]), None)
    if dc is None:
        raise StepFailed("args", f"no DC {scenario['dc_id']} in the ready line")
    install_rsa_key(ready)
    session = StringSession()
    session.set_dc(dc["id"], "127.0.0.1", dc["port"])
    # Telethon derives the auth key from g_ab's minimal bytes: about one handshake in 256 fails
    # client-side whatever the server does (real Telegram too), so allow retries.
    client = TelegramClient(session, api_id=1, api_hash="x", connection_retries=4,
                            request_retries=1, retry_delay=0, auto_reconnect=False, timeout=10,
                            receive_updates=False)
    phone = scenario["phone"]
    await step("connect (DH handshake)", client.connect())
    try:
        await step("send_code_request", client.send_code_request(phone))
        code = await asyncio.to_thread(login_code, ready, phone)
        me = await step("sign_in(code)", client.sign_in(phone, code=code))
        saved = client.session.save()
    finally:
        await client.disconnect()
    return {"ok": True, "session": saved, "user_id": me.id}


def main():
    ready_path, scenario = sys.argv[1], json.loads(sys.argv[2])
    try:
        result = asyncio.run(run(read_ready(ready_path), scenario))
    except StepFailed as e:
        result = {"ok": False, "step": e.step, "error": e.message}
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
