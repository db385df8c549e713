#!/usr/bin/env python3
"""Telethon against the mock DC: two accounts log in on DC 2 (real DH handshake), A with a code and
a 2FA password through `client.start()`, B with the explicit `send_code_request` / `sign_in`
sequence; A resolves B by username and sends a message; B's `events.NewMessage` handler must fire
with the text and A's id, and both histories must hold the message.

usage: python telethon_messaging.py READY_JSON_FILE ACCOUNTS_JSON
  ACCOUNTS_JSON: {"dc_id": 2,
                  "a": {"phone": "+1555...", "user_id": 777000001, "username": "alice_t",
                        "password": "2FA password"},
                  "b": {"phone": "+1555...", "user_id": 777000002, "username": "bob_t",
                        "password": null}}
  Login codes are read from the mock's control API: GET {control_url}/v1/login-codes/{phone}.
stdout: one JSON line; exit 0 only if every step passed.
Set TELEGATE_INTEROP_DEBUG=1 for Telethon's debug log on stderr.
"""

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import telethon
from telethon import TelegramClient, errors, events, functions, types
from telethon.sessions import StringSession

from mock_common import StepFailed, install_rsa_key, read_ready
from telethon.tl.alltlobjects import LAYER

CLIENT = "telethon"
STEP_TIMEOUT = 15.0
UPDATE_TIMEOUT = 10.0
HTTP_TIMEOUT = 5.0
GLOBAL_TIMEOUT = 50.0


async def step(name, coro, timeout=STEP_TIMEOUT):
    """Awaits `coro` with a timeout, turning every failure into StepFailed(name, ...)."""
    try:
        return await asyncio.wait_for(coro, timeout)
    except StepFailed:
        raise
    except asyncio.TimeoutError:
        raise StepFailed(name, f"timeout after {timeout} s") from None
    except errors.RPCError as e:
        raise StepFailed(name, f"rpc_error {e.code} {e.message} "
                               f"(request {type(e.request).__name__ if e.request else None})") from e
    except Exception as e:  # noqa: BLE001 - report every client error as this step's failure
        raise StepFailed(name, f"{type(e).__name__}: {e}") from e


# Loopback only: never let an http_proxy variable route the control API elsewhere.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_get_json(url):
    try:
        with _HTTP.open(url, timeout=HTTP_TIMEOUT) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")
        raise RuntimeError(f"GET {url}: HTTP {e.code}: {body}") from None


async def login_code(ready, phone):
    """The code the mock sent to `phone`, from the control API."""
    url = f"{ready['control_url'].rstrip('/')}/v1/login-codes/{urllib.parse.quote(phone, safe='')}"
    answer = await asyncio.wait_for(asyncio.to_thread(_http_get_json, url), HTTP_TIMEOUT + 1)
    code = answer.get("code")
    if not isinstance(code, str) or not code:
        raise RuntimeError(f"GET {url} answered {answer!r}, expected {{\"code\": \"...\"}}")
    return code


def new_client(dc_id, port):
    session = StringSession()
    session.set_dc(dc_id, "127.0.0.1", port)
    return TelegramClient(
        session,
        api_id=1,
        api_hash="x",
        # Telethon derives the auth key from g_ab's minimal bytes: about one handshake in 256
        # fails client-side whatever the server does (real Telegram too), so allow retries.
        connection_retries=4,
        request_retries=1,
        retry_delay=0,
        auto_reconnect=False,
        timeout=10,
        receive_updates=True,
    )


async def connect(client, who):
    await step(f"{who}: connect (DH handshake, initConnection, get_me)", client.connect())
    if not client.is_connected():
        raise StepFailed(f"{who}: connect", "client is not connected after connect()")
    if await step(f"{who}: is_user_authorized before login", client.is_user_authorized()):
        raise StepFailed(f"{who}: is_user_authorized before login", "a fresh session is authorized")


async def login_a_with_start(client, ready, account, out):
    """`client.start()` with an async code callback and a password callback that first gives a wrong
    password: start() must get PASSWORD_HASH_INVALID, retry with fresh SRP parameters, then succeed."""
    phone, password = account["phone"], account["password"]
    if not password:
        raise StepFailed("A: args", "account A must have a 2FA password")
    codes_read, passwords_given = [], []

    async def code_callback():
        code = await login_code(ready, phone)
        codes_read.append(code)
        return code

    def password_callback():
        value = "definitely wrong" if not passwords_given else password
        passwords_given.append(value)
        return value

    # start() prints "Invalid password..." / "Signed in successfully..." on stdout; keep stdout for
    # the JSON result line.
    with contextlib.redirect_stdout(sys.stderr):
        await step("A: client.start(phone, code_callback, password) with 2FA",
                   client.start(phone=phone, code_callback=code_callback,
                                password=password_callback, max_attempts=3),
                   timeout=2 * STEP_TIMEOUT)
    if len(codes_read) != 1:
        raise StepFailed("A: client.start", f"code callback called {len(codes_read)} times, expected 1")
    if len(passwords_given) != 2:
        raise StepFailed("A: client.start",
                         f"password callback called {len(passwords_given)} times, expected 2 "
                         "(a wrong password answered PASSWORD_HASH_INVALID, then the right one)")
    out["a_login"] = "start(): code, SESSION_PASSWORD_NEEDED, wrong password rejected, 2FA ok"


async def login_b_explicit(client, ready, account, out):
    """send_code_request, a wrong code (PHONE_CODE_INVALID), the right code, and the 2FA password if
    the account has one."""
    phone = account["phone"]
    sent = await step("B: send_code_request (auth.sendCode)", client.send_code_request(phone))
    if not isinstance(sent, types.auth.SentCode):
        raise StepFailed("B: send_code_request", f"answered {type(sent).__name__}")
    out["b_sent_code_type"] = type(sent.type).__name__
    try:
        await asyncio.wait_for(client.sign_in(phone, code="00000"), STEP_TIMEOUT)
    except errors.PhoneCodeInvalidError:
        pass
    except asyncio.TimeoutError:
        raise StepFailed("B: sign_in with a wrong code", f"timeout after {STEP_TIMEOUT} s") from None
    except Exception as e:  # noqa: BLE001
        raise StepFailed("B: sign_in with a wrong code",
                         f"expected PhoneCodeInvalidError, got {type(e).__name__}: {e}") from e
    else:
        raise StepFailed("B: sign_in with a wrong code", "a wrong code was accepted")
    code = await step("B: read login code from the control API", login_code(ready, phone))
    password = account.get("password")
    try:
        me = await asyncio.wait_for(client.sign_in(phone, code=code), STEP_TIMEOUT)
    except errors.SessionPasswordNeededError:
        if not password:
            raise StepFailed("B: sign_in(code)", "SESSION_PASSWORD_NEEDED for an account without 2FA")
        me = await step("B: sign_in(password) (account.getPassword, auth.checkPassword)",
                        client.sign_in(password=password))
        out["b_login"] = "explicit: wrong code rejected, code, 2FA ok"
    except asyncio.TimeoutError:
        raise StepFailed("B: sign_in(code)", f"timeout after {STEP_TIMEOUT} s") from None
    except errors.RPCError as e:
        raise StepFailed("B: sign_in(code) (auth.signIn)", f"rpc_error {e.code} {e.message}") from e
    except Exception as e:  # noqa: BLE001
        raise StepFailed("B: sign_in(code) (auth.signIn)", f"{type(e).__name__}: {e}") from e
    else:
        if password:
            raise StepFailed("B: sign_in(code)", "signed in without the 2FA password")
        out["b_login"] = "explicit: wrong code rejected, code ok"
    if not isinstance(me, types.User):
        raise StepFailed("B: sign_in", f"answered {type(me).__name__}, expected User")


async def check_me(client, who, account):
    me = await step(f"{who}: get_me (users.getUsers([inputUserSelf]))", client.get_me())
    if me is None:
        raise StepFailed(f"{who}: get_me", "None after login (401 from users.getUsers)")
    if me.id != account["user_id"]:
        raise StepFailed(f"{who}: get_me", f"id {me.id}, expected {account['user_id']}")
    if not me.is_self:
        raise StepFailed(f"{who}: get_me", "user lacks the self flag")
    if (me.username or "").lower() != account["username"].lower():
        raise StepFailed(f"{who}: get_me", f"username {me.username!r}, expected {account['username']!r}")
    expected_phone = "".join(ch for ch in account["phone"] if ch.isdigit())
    if me.phone != expected_phone:
        raise StepFailed(f"{who}: get_me", f"phone {me.phone!r}, expected {expected_phone!r}")
    return me


async def run(ready, accounts):
    dc_id = int(accounts.get("dc_id", 2))
    dc = next((d for d in ready["dcs"] if d["id"] == dc_id), None)
    if dc is None:
        raise StepFailed("args", f"DC {dc_id} is not in the ready line")
    acc_a, acc_b = accounts["a"], accounts["b"]
    out = {"dc": dc_id, "port": dc["port"]}

    a = new_client(dc_id, dc["port"])
    b = new_client(dc_id, dc["port"])
    try:
        await connect(a, "A")
        await connect(b, "B")

        await login_a_with_start(a, ready, acc_a, out)
        await login_b_explicit(b, ready, acc_b, out)
        me_a = await check_me(a, "A", acc_a)
        me_b = await check_me(b, "B", acc_b)
        out["a_id"], out["b_id"] = me_a.id, me_b.id

        loop = asyncio.get_running_loop()
        received = loop.create_future()
        seen = []

        @b.on(events.NewMessage(incoming=True))
        async def on_new_message(event):
            seen.append({"id": event.id, "text": event.raw_text, "sender_id": event.sender_id})
            if not received.done():
                received.set_result(event)

        peer_b = await step(f"A: get_entity({acc_b['username']!r}) (contacts.resolveUsername)",
                            a.get_entity(acc_b["username"]))
        if not isinstance(peer_b, types.User) or peer_b.id != me_b.id:
            raise StepFailed("A: get_entity", f"resolved {peer_b!r}, expected user {me_b.id}")
        out["resolved_b"] = {"id": peer_b.id, "username": peer_b.username}

        text = f"hello from telethon {time.time_ns()}"
        sent = await step("A: send_message (messages.sendMessage)", a.send_message(peer_b, text))
        if sent.message != text or not sent.out:
            raise StepFailed("A: send_message", f"answered message {sent.id} text {sent.message!r} "
                                                f"out={sent.out}")
        out["sent_id"] = sent.id

        try:
            event = await asyncio.wait_for(asyncio.shield(received), UPDATE_TIMEOUT)
        except asyncio.TimeoutError:
            raise StepFailed("B: events.NewMessage",
                             f"no NewMessage event within {UPDATE_TIMEOUT} s; seen {seen}") from None
        if event.raw_text != text:
            raise StepFailed("B: events.NewMessage", f"text {event.raw_text!r}, expected {text!r}")
        if event.sender_id != me_a.id:
            raise StepFailed("B: events.NewMessage", f"sender_id {event.sender_id}, expected {me_a.id}")
        if not event.is_private or event.out or event.chat_id != me_a.id:
            raise StepFailed("B: events.NewMessage",
                             f"is_private={event.is_private} out={event.out} chat_id={event.chat_id}")
        sender = await step("B: event.get_sender()", event.get_sender())
        if sender is None or sender.id != me_a.id:
            raise StepFailed("B: event.get_sender()", f"answered {sender!r}")
        out["event"] = {"id": event.id, "text": event.raw_text, "sender_id": event.sender_id,
                        "sender_username": sender.username, "update": type(event.original_update).__name__}

        peer_a = await step(f"B: get_entity({acc_a['username']!r}) (contacts.resolveUsername)",
                            b.get_entity(acc_a["username"]))
        history_b = await step("B: get_messages(A, limit=5) (messages.getHistory)",
                               b.get_messages(peer_a, limit=5))
        hit = [m for m in history_b if m.id == event.id]
        if not hit or hit[0].message != text or hit[0].out or hit[0].sender_id != me_a.id:
            raise StepFailed("B: get_messages(A)",
                             f"message {event.id} {text!r} from {me_a.id} missing; got "
                             f"{[(m.id, m.message, m.out, m.sender_id) for m in history_b]}")
        out["b_history"] = [{"id": m.id, "text": m.message, "out": m.out} for m in history_b]

        history_a = await step("A: get_messages(B, limit=5) (messages.getHistory)",
                               a.get_messages(peer_b, limit=5))
        if not any(m.id == sent.id and m.message == text and m.out for m in history_a):
            raise StepFailed("A: get_messages(B)",
                             f"sent message {sent.id} missing; got "
                             f"{[(m.id, m.message, m.out) for m in history_a]}")
        out["a_history_len"] = len(history_a)
        out["ok"] = True
        return out
    finally:
        for who, client in (("A", a), ("B", b)):
            try:
                await asyncio.wait_for(client.disconnect(), 5)
            except Exception as e:  # noqa: BLE001 - never mask the real outcome
                print(f"{who}: disconnect: {type(e).__name__}: {e}", file=sys.stderr)


async def main(argv):
    if len(argv) != 2:
        raise StepFailed("args", "usage: telethon_messaging.py READY_JSON_FILE ACCOUNTS_JSON")
    ready = read_ready(argv[0])
    accounts = json.loads(argv[1])
    fingerprint = install_rsa_key(ready)
    result = await run(ready, accounts)
    return {
        "client": CLIENT,
        "version": telethon.__version__,
        "layer": LAYER,
        "transport": "tcp-full",
        "rsa_fingerprint": str(fingerprint),
        **result,
    }


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
