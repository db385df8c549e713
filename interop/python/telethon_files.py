#!/usr/bin/env python3
"""Telethon against the mock DC: a user logs in on DC 2, uploads a 20 MB file of random bytes
(generated here, never stored: Telethon cuts it into 512 KiB `upload.saveBigFilePart` parts, as
above 10 MB Telegram requires), sends it to Saved Messages as a document
(messages.sendMedia with inputMediaUploadedDocument), fetches the message back and downloads
the document (upload.getFile, 1 MiB-aligned requests), and checks the SHA-256 is identical.

usage: python telethon_files.py READY_JSON_FILE SCENARIO_JSON
  SCENARIO_JSON: {"dc_id": 2, "phone": "+1555...", "user_id": 777000002, "size": 20971520}
stdout: one JSON line; exit 0 only if every step passed.
"""

import asyncio
import hashlib
import io
import json
import logging
import os
import sys
import time

import telethon
from telethon import types
from telethon.tl.alltlobjects import LAYER

from mock_common import StepFailed, install_rsa_key, read_ready
from telethon_messaging import connect, login_code, new_client, step

CLIENT = "telethon"
# A 20 MB round trip through the mock on a loaded 2-core machine takes seconds, not minutes.
TRANSFER_TIMEOUT = 40.0
GLOBAL_TIMEOUT = 55.0  # under the Rust side's 60 s script timeout


async def run(ready, scenario):
    dc_id = int(scenario.get("dc_id", 2))
    dc = next((d for d in ready["dcs"] if d["id"] == dc_id), None)
    if dc is None:
        raise StepFailed("args", f"DC {dc_id} is not in the ready line")
    size = int(scenario["size"])
    out = {"dc": dc_id, "size": size}
    client = new_client(dc_id, dc["port"])
    try:
        await connect(client, "user")
        phone = scenario["phone"]
        await step("send_code_request", client.send_code_request(phone))
        code = await step("read login code from the control API", login_code(ready, phone))
        me = await step("sign_in(code)", client.sign_in(phone, code=code))
        if me.id != scenario["user_id"]:
            raise StepFailed("sign_in", f"signed in as {me.id}, expected {scenario['user_id']}")

        data = os.urandom(size)
        sent_sha = hashlib.sha256(data).hexdigest()
        started = time.monotonic()
        uploaded = await step("upload_file (upload.saveBigFilePart)",
                              client.upload_file(io.BytesIO(data), file_name="random.bin",
                                                 file_size=size),
                              TRANSFER_TIMEOUT)
        if not isinstance(uploaded, types.InputFileBig):
            raise StepFailed("upload_file", f"expected an InputFileBig, got {uploaded!r}")
        out["upload_s"] = round(time.monotonic() - started, 2)
        out["parts"] = uploaded.parts
        message = await step("send_file (messages.sendMedia)",
                             client.send_file("me", uploaded, force_document=True,
                                              caption="twenty megabytes",
                                              attributes=[types.DocumentAttributeFilename(
                                                  "random.bin")]))
        doc = message.document
        if doc is None or doc.size != size:
            raise StepFailed("send_file", f"the message carries {message.media!r}")
        out["document"] = {"id": doc.id, "size": doc.size, "mime_type": doc.mime_type,
                           "dc_id": doc.dc_id}

        fetched = await step("get_messages(me, ids=…) (messages.getMessages)",
                             client.get_messages("me", ids=message.id))
        started = time.monotonic()
        back = await step("download_media (upload.getFile)",
                          client.download_media(fetched, file=bytes), TRANSFER_TIMEOUT)
        out["download_s"] = round(time.monotonic() - started, 2)
        if not isinstance(back, bytes) or len(back) != size:
            raise StepFailed("download_media", f"got {len(back or b'')} of {size} bytes")
        got_sha = hashlib.sha256(back).hexdigest()
        if got_sha != sent_sha:
            raise StepFailed("download_media", f"SHA-256 {got_sha} != sent {sent_sha}")
        out["sha256"] = got_sha
        out["ok"] = True
        return out
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), 5)
        except Exception as e:  # noqa: BLE001 - never mask the real outcome
            print(f"disconnect: {type(e).__name__}: {e}", file=sys.stderr)


async def main(argv):
    if len(argv) != 2:
        raise StepFailed("args", "usage: telethon_files.py READY_JSON_FILE SCENARIO_JSON")
    ready = read_ready(argv[0])
    scenario = json.loads(argv[1])
    fingerprint = install_rsa_key(ready)
    result = await run(ready, scenario)
    try:
        import cryptg  # noqa: F401 - reported: it changes Telethon's crypto speed, not behaviour
        out_cryptg = True
    except ImportError:
        out_cryptg = False
    return {"client": CLIENT, "version": telethon.__version__, "layer": LAYER,
            "cryptg": out_cryptg, "rsa_fingerprint": str(fingerprint), **result}


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
