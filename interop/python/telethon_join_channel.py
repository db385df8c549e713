#!/usr/bin/env python3
"""Telethon against the mock DC: a user logs in on DC 2 (real DH handshake, code read from the
control API), checks an invite link (messages.checkChatInvite), joins the broadcast channel
through it (messages.importChatInvite), reads the channel's history, receives a post made
through the control API as an events.NewMessage, and gets Telegram's errors for joining twice
(USER_ALREADY_PARTICIPANT) and for listing subscribers without being an admin
(CHAT_ADMIN_REQUIRED).

usage: python telethon_join_channel.py READY_JSON_FILE SCENARIO_JSON
  SCENARIO_JSON: {"dc_id": 2, "phone": "+1555...", "user_id": 777000002,
                  "channel_id": 1500000001, "title": "Mock News", "link": "https://t.me/+HASH",
                  "first_post": "welcome"}
stdout: one JSON line; exit 0 only if every step passed.
"""

import asyncio
import json
import logging
import os
import sys
import time
import urllib.request

import telethon
from telethon import errors, events, functions, types
from telethon.tl.alltlobjects import LAYER

from mock_common import StepFailed, install_rsa_key, read_ready
from telethon_messaging import (GLOBAL_TIMEOUT, HTTP_TIMEOUT, UPDATE_TIMEOUT, _HTTP, connect,
                                login_code, new_client, step)

CLIENT = "telethon"


def _http_post_json(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    with _HTTP.open(request, timeout=HTTP_TIMEOUT) as resp:
        return json.loads(resp.read().decode("utf-8"))


async def post_as_channel(ready, channel_id, text):
    url = f"{ready['control_url'].rstrip('/')}/v1/channels/{channel_id}/posts"
    return await asyncio.to_thread(_http_post_json, url, {"text": text})


async def expect_error(name, coro, error_type):
    try:
        await asyncio.wait_for(coro, 15)
    except error_type as e:
        # Telethon maps the exact RPC error name to its class (e.message is the generic kind).
        return f"{e.code} {type(e).__name__}"
    except Exception as e:  # noqa: BLE001
        raise StepFailed(name, f"expected {error_type.__name__}, got {type(e).__name__}: {e}") from e
    raise StepFailed(name, f"expected {error_type.__name__}, the call succeeded")


async def run(ready, scenario):
    dc_id = int(scenario.get("dc_id", 2))
    dc = next((d for d in ready["dcs"] if d["id"] == dc_id), None)
    if dc is None:
        raise StepFailed("args", f"DC {dc_id} is not in the ready line")
    out = {"dc": dc_id}
    client = new_client(dc_id, dc["port"])
    try:
        await connect(client, "user")
        phone = scenario["phone"]
        await step("send_code_request", client.send_code_request(phone))
        code = await step("read login code from the control API", login_code(ready, phone))
        me = await step("sign_in(code)", client.sign_in(phone, code=code))
        if me.id != scenario["user_id"]:
            raise StepFailed("sign_in", f"signed in as {me.id}, expected {scenario['user_id']}")

        link = scenario["link"]
        invite_hash = link.rsplit("+", 1)[-1]
        invite = await step("CheckChatInviteRequest (messages.checkChatInvite)",
                            client(functions.messages.CheckChatInviteRequest(invite_hash)))
        if not isinstance(invite, types.ChatInvite) or invite.title != scenario["title"] \
                or not invite.channel or not invite.broadcast:
            raise StepFailed("CheckChatInviteRequest", f"answered {invite!r}")
        out["invite"] = {"title": invite.title, "participants_count": invite.participants_count}

        joined = await step("ImportChatInviteRequest (messages.importChatInvite)",
                            client(functions.messages.ImportChatInviteRequest(invite_hash)))
        updates = getattr(joined, "updates", joined)
        channel = next((c for c in getattr(updates, "chats", [])
                        if isinstance(c, types.Channel) and c.id == scenario["channel_id"]), None)
        if channel is None or channel.left or not channel.broadcast:
            raise StepFailed("ImportChatInviteRequest",
                             f"the answer does not carry the joined channel: {joined!r}")
        out["joined"] = {"result": type(joined).__name__, "channel_id": channel.id,
                         "title": channel.title}

        history = await step("get_messages(channel) (messages.getHistory)",
                             client.get_messages(channel, limit=10))
        texts = [m.message for m in history if m.message]
        if scenario["first_post"] not in texts:
            raise StepFailed("get_messages(channel)", f"{scenario['first_post']!r} not in {texts}")
        out["history"] = texts

        loop = asyncio.get_running_loop()
        received = loop.create_future()

        @client.on(events.NewMessage(chats=channel))
        async def on_post(event):
            if not received.done():
                received.set_result(event)

        text = f"live post {time.time_ns()}"
        await step("control API: post as the channel", post_as_channel(ready, channel.id, text))
        try:
            event = await asyncio.wait_for(asyncio.shield(received), UPDATE_TIMEOUT)
        except asyncio.TimeoutError:
            raise StepFailed("events.NewMessage(chats=channel)",
                             f"no event within {UPDATE_TIMEOUT} s") from None
        if event.raw_text != text or not event.message.post:
            raise StepFailed("events.NewMessage", f"text {event.raw_text!r}, post={event.message.post}")
        out["event"] = {"text": event.raw_text, "chat_id": event.chat_id,
                        "update": type(event.original_update).__name__}

        out["join_again"] = await expect_error(
            "ImportChatInviteRequest again",
            client(functions.messages.ImportChatInviteRequest(invite_hash)),
            errors.UserAlreadyParticipantError)
        out["participants_error"] = await expect_error(
            "get_participants(channel) as a subscriber",
            client.get_participants(channel),
            errors.ChatAdminRequiredError)
        out["ok"] = True
        return out
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), 5)
        except Exception as e:  # noqa: BLE001 - never mask the real outcome
            print(f"disconnect: {type(e).__name__}: {e}", file=sys.stderr)


async def main(argv):
    if len(argv) != 2:
        raise StepFailed("args", "usage: telethon_join_channel.py READY_JSON_FILE SCENARIO_JSON")
    ready = read_ready(argv[0])
    scenario = json.loads(argv[1])
    fingerprint = install_rsa_key(ready)
    result = await run(ready, scenario)
    return {"client": CLIENT, "version": telethon.__version__, "layer": LAYER,
            "rsa_fingerprint": str(fingerprint), **result}


def entry():
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if os.environ.get("TELEGATE_INTEROP_DEBUG") else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = asyncio.run(asyncio.wait_for(main(sys.argv[1:]), GLOBAL_TIMEOUT))
    except StepFailed as e:
        print(f"[{CLIENT}] FAILED at step '{e.step}': {e.message}", file=sys.stderr)
        if e.__cause__ is not None:
            import traceback
            traceback.print_exception(e.__cause__, file=sys.stderr)
        print(json.dumps({"client": CLIENT, "ok": False, "step": e.step, "error": e.message}))
        return 1
    except (asyncio.TimeoutError, TimeoutError):
        print(json.dumps({"client": CLIENT, "ok": False, "step": "global",
                          "error": f"global timeout ({GLOBAL_TIMEOUT} s)"}))
        return 1
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        print(json.dumps({"client": CLIENT, "ok": False, "step": "unexpected",
                          "error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(entry())
