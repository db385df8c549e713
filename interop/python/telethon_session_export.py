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

from mock_common import StepFailed, install_rsa_key, read_ready
from telethon_messaging import connect, login_code, new_client, step


async def run(ready, scenario):
    dc = next((d for d in ready["dcs"] if d["id"] == scenario["dc_id"]), None)
    if dc is None:
        raise StepFailed("args", f"no DC {scenario['dc_id']} in the ready line")
    install_rsa_key(ready)
    client = new_client(dc["id"], dc["port"])
    phone = scenario["phone"]
    await connect(client, "export")
    try:
        await step("send_code_request", client.send_code_request(phone))
        code = await step("read login code from the control API", login_code(ready, phone))
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
