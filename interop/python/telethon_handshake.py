#!/usr/bin/env python3
"""Telethon against the mock DC: a real DH handshake (Telethon's old RSA scheme) with the mock's
RSA key on DC 1 and DC 2, then help.getConfig, help.getNearestDc, ping and a method the mock does
not implement.

usage: python telethon_handshake.py READY_JSON_FILE [DC_ID ...]      (DC ids default to 1 2)
stdout: one JSON line; exit 0 only if every step passed on every DC.
Set TELEGATE_INTEROP_DEBUG=1 for Telethon's debug log on stderr.
"""

import asyncio
import json
import logging
import os
import random
import sys
import time

import telethon
from telethon import TelegramClient, errors, functions, types
from telethon.sessions import StringSession

from mock_common import StepFailed, install_rsa_key, read_ready

CLIENT = "telethon"
STEP_TIMEOUT = 15.0
GLOBAL_TIMEOUT = 50.0


def dc_options_of(config):
    return [
        {
            "id": o.id,
            "ip": o.ip_address,
            "port": o.port,
            "ipv6": bool(o.ipv6),
            "media_only": bool(o.media_only),
            "tcpo_only": bool(o.tcpo_only),
            "static": bool(o.static),
        }
        for o in config.dc_options
    ]


async def step(name, coro, timeout=STEP_TIMEOUT):
    try:
        return await asyncio.wait_for(coro, timeout)
    except StepFailed:
        raise
    except asyncio.TimeoutError:
        raise StepFailed(name, f"timeout after {timeout} s") from None
    except errors.RPCError as e:
        raise StepFailed(name, f"rpc_error {e.code} {e.message}") from e
    except Exception as e:  # noqa: BLE001 - report every client error as this step's failure
        raise StepFailed(name, f"{type(e).__name__}: {e}") from e


async def run_dc(ready, dc):
    dc_id, port = dc["id"], dc["port"]
    session = StringSession()
    session.set_dc(dc_id, "127.0.0.1", port)
    client = TelegramClient(
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
    )
    out = {"dc": dc_id, "port": port}
    try:
        # connect(): TCP Full, DH (req_pq_multi, req_DH_params, set_client_DH_params), then
        # invokeWithLayer(initConnection(help.getConfig)), then users.getUsers([inputUserSelf])
        # (get_me), which must answer a user or a 401 error (AUTH_KEY_UNREGISTERED).
        await step(f"DC {dc_id}: connect (DH handshake, initConnection, get_me)", client.connect())
        if not client.is_connected():
            raise StepFailed(f"DC {dc_id}: connect", "client is not connected after connect()")
        if client.session.auth_key is None or client.session.auth_key.key is None:
            raise StepFailed(f"DC {dc_id}: connect", "no auth key after connect()")
        out["auth_key_id"] = str(client.session.auth_key.key_id)

        config = await step(f"DC {dc_id}: help.getConfig", client(functions.help.GetConfigRequest()))
        if not isinstance(config, types.Config):
            raise StepFailed(f"DC {dc_id}: help.getConfig", f"answered {type(config).__name__}")
        options = dc_options_of(config)
        missing = [d for d in ready["dcs"]
                   if not any(o["id"] == d["id"] and o["ip"] == d["host"] and o["port"] == d["port"]
                              for o in options)]
        if missing:
            raise StepFailed(f"DC {dc_id}: help.getConfig",
                             f"dc_options lack the mock's DCs {missing}; got {options}")
        if config.this_dc != dc_id:
            raise StepFailed(f"DC {dc_id}: help.getConfig", f"this_dc = {config.this_dc}, expected {dc_id}")
        out["this_dc"] = config.this_dc
        out["dc_options"] = options

        nearest = await step(f"DC {dc_id}: help.getNearestDc", client(functions.help.GetNearestDcRequest()))
        if not isinstance(nearest, types.NearestDc) or nearest.this_dc != dc_id:
            raise StepFailed(f"DC {dc_id}: help.getNearestDc", f"answered {nearest!r}")
        out["nearest_dc"] = nearest.nearest_dc

        ping_id = random.randrange(1, 2**62)
        started = time.monotonic()
        pong = await step(f"DC {dc_id}: ping", client(functions.PingRequest(ping_id=ping_id)))
        if not isinstance(pong, types.Pong) or pong.ping_id != ping_id:
            raise StepFailed(f"DC {dc_id}: ping", f"answered {pong!r}")
        out["ping_ms"] = round((time.monotonic() - started) * 1000, 2)

        name = f"DC {dc_id}: unimplemented method (stickers.suggestShortName)"
        try:
            result = await asyncio.wait_for(
                client(functions.stickers.SuggestShortNameRequest(title="telegate interop")), STEP_TIMEOUT)
        except errors.RPCError as e:
            if e.code != 400 or e.message != "METHOD_NOT_IMPLEMENTED_IN_MOCK":
                raise StepFailed(name, f"expected rpc_error 400 METHOD_NOT_IMPLEMENTED_IN_MOCK, "
                                       f"got {e.code} {e.message}") from e
            out["unimplemented_error"] = f"{e.code} {e.message}"
        except asyncio.TimeoutError:
            raise StepFailed(name, f"timeout after {STEP_TIMEOUT} s") from None
        else:
            raise StepFailed(name, f"expected an rpc_error, got {result!r}")
        out["ok"] = True
        return out
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), 5)
        except Exception as e:  # noqa: BLE001 - never mask the real outcome
            print(f"DC {dc_id}: disconnect: {type(e).__name__}: {e}", file=sys.stderr)


async def main(argv):
    if not argv:
        raise StepFailed("args", "usage: telethon_handshake.py READY_JSON_FILE [DC_ID ...]")
    ready = read_ready(argv[0])
    dc_ids = [int(a) for a in argv[1:]] or [1, 2]
    fingerprint = install_rsa_key(ready)
    results = []
    for dc_id in dc_ids:
        dc = next((d for d in ready["dcs"] if d["id"] == dc_id), None)
        if dc is None:
            raise StepFailed("args", f"DC {dc_id} is not in the ready line")
        results.append(await run_dc(ready, dc))
    return {
        "client": CLIENT,
        "version": telethon.__version__,
        "transport": "tcp-full",
        "ok": True,
        "rsa_fingerprint": str(fingerprint),
        "dcs": results,
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
