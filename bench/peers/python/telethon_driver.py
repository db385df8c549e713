#!/usr/bin/env python3
"""Telethon benchmark driver for `telegate-bench suite` (bench/README.md describes the protocol).

usage: python telethon_driver.py JOB_JSON_FILE

The job names a scenario and the accounts to use. Each account comes as a Telethon
StringSession holding a pre-shared auth key that the mock DC already logged in as a user
(`POST /v1/auth-keys {"dc_id", "user_id"}`), so no DH and no login happen here: what is timed is
Telethon itself, with its default settings (cryptg is used when installed, as Telethon's docs
recommend; the job says whether it must be).

stdout carries JSON lines only:
  {"event": "phase", "phase": NAME, ...}  the harness measures this process (RSS) and answers
                                          with one line on stdin before the driver goes on
  {"event": "result", ...}                the scenario's figures, last line, exit 0
  {"event": "error", "step": ..., "error": ...}  exit 1
Everything else (Telethon's own logging) goes to stderr.
"""

import asyncio
import gc
import json
import logging
import sys
import time

_STDOUT = sys.stdout
sys.stdout = sys.stderr  # nothing but our JSON lines on the real stdout


def emit(obj):
    _STDOUT.write(json.dumps(obj) + "\n")
    _STDOUT.flush()


async def phase(name, **extra):
    """Tells the harness where we are and waits for its go-ahead (it reads our RSS meanwhile)."""
    emit({"event": "phase", "phase": name, **extra})
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise RuntimeError(f"harness closed stdin at phase {name}")


class StepFailed(Exception):
    def __init__(self, step, error):
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


async def step(name, coro, timeout):
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise StepFailed(name, f"timeout after {timeout} s") from None
    except StepFailed:
        raise
    except Exception as e:  # noqa: BLE001 - every client error is this step's failure
        raise StepFailed(name, f"{type(e).__name__}: {e}") from e


async def bounded(items, limit, fn):
    """Runs fn(item) for every item with at most `limit` running at once; returns the results."""
    results = [None] * len(items)
    next_index = 0

    async def worker():
        nonlocal next_index
        while next_index < len(items):
            i = next_index
            next_index += 1
            results[i] = await fn(items[i])

    await asyncio.gather(*(worker() for _ in range(min(limit, len(items)) or 1)))
    return results


def new_client(account):
    from telethon import TelegramClient
    from telethon.sessions import StringSession

    # Default settings: api_id/api_hash are not checked by the mock.
    return TelegramClient(StringSession(account["session"]), 1, "x")


async def connect(account):
    from telethon import functions

    client = new_client(account)
    await client.connect()
    # One round trip, as every contender does: the account is then connected and receiving.
    await client(functions.updates.GetStateRequest())
    return client


async def scenario_send(job):
    accounts = job["accounts"]
    params = job["send"]
    clients = await step("connect", bounded(accounts, 64, connect), 120)
    peers = []
    for client, account in zip(clients, accounts):
        peers.append(await step("resolve peer", client.get_input_entity(account["peer"]), 30))
    text = params["text"]
    # Warm-up: every account sends once (first-call costs, salts).
    await step("warm-up", asyncio.gather(*(c.send_message(p, text) for c, p in zip(clients, peers))), 60)

    throughput = []
    for concurrency in params["concurrency"]:
        deadline = time.perf_counter() + params["secs"]
        counter = 0
        sent = 0
        errors = 0

        async def worker():
            nonlocal counter, sent, errors
            while time.perf_counter() < deadline:
                i = counter % len(clients)
                counter += 1
                try:
                    await clients[i].send_message(peers[i], text)
                except Exception:  # noqa: BLE001 - counted, the first one reported below
                    errors += 1
                    if errors == 1:
                        logging.exception("send failed")
                    continue
                if time.perf_counter() <= deadline:
                    sent += 1

        await phase(f"send.{concurrency}.start")
        deadline = time.perf_counter() + params["secs"]
        start = time.perf_counter()
        await step(f"send x{concurrency}", asyncio.gather(*(worker() for _ in range(concurrency))),
                   params["secs"] + 60)
        await phase(f"send.{concurrency}.end")
        throughput.append({"concurrency": concurrency, "sent": sent, "errors": errors,
                           "secs": deadline - start})

    latencies = []
    for _ in range(params["latency_sends"]):
        t0 = time.perf_counter()
        await step("latency send", clients[0].send_message(peers[0], text), 30)
        latencies.append((time.perf_counter() - t0) * 1000.0)

    await asyncio.gather(*(c.disconnect() for c in clients))
    return {"throughput": throughput, "latency_ms": latencies}


async def scenario_scale(job):
    accounts = job["accounts"]
    params = job["scale"]
    gc.collect()
    await phase("baseline")
    start = time.perf_counter()
    clients = await step("connect", bounded(accounts, params["connect_concurrency"], connect),
                         params["timeout_secs"])
    connect_secs = time.perf_counter() - start
    await phase("connected", secs=connect_secs)
    await asyncio.sleep(params["settle_secs"])
    gc.collect()
    await phase("idle")
    await asyncio.gather(*(c.disconnect() for c in clients))
    return {"connect_secs": connect_secs, "accounts": len(clients)}


async def main():
    job = json.load(open(sys.argv[1], encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import telethon
    from telethon import crypto

    cryptg = getattr(crypto.aes, "cryptg", None) is not None
    if job.get("require_cryptg") and not cryptg:
        raise StepFailed("import", "cryptg is not importable: Telethon would use pure-Python AES")
    info = {"client": "telethon", "version": telethon.__version__, "cryptg": cryptg}
    if job["scenario"] == "send":
        result = await scenario_send(job)
    elif job["scenario"] == "scale":
        result = await scenario_scale(job)
    else:
        raise StepFailed("job", f"unknown scenario {job['scenario']!r}")
    emit({"event": "result", **info, **result})


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except StepFailed as e:
        emit({"event": "error", "step": e.step, "error": e.error})
        sys.exit(1)
    except Exception as e:  # noqa: BLE001
        emit({"event": "error", "step": "driver", "error": f"{type(e).__name__}: {e}"})
        sys.exit(1)
