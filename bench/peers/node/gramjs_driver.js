#!/usr/bin/env node
"use strict";
// GramJS (npm `telegram`) benchmark driver for `telegate-bench suite` (bench/README.md has the
// protocol).
//
// usage: node --expose-gc gramjs_driver.js JOB_JSON_FILE
//
// Each account comes as a GramJS StringSession holding a pre-shared auth key that the mock DC
// already logged in as a user (`POST /v1/auth-keys {"dc_id","user_id"}`): no DH, no login.
// GramJS runs with its default settings but two: its logger is set to "error" (the default
// "info" prints two lines per connection, which at 10,000 accounts times the console rather than
// GramJS), and a `networkSocket` that dials the mock's port (GramJS ignores the session's port
// and would dial 80; the session says 80 because StringSession.save() throws above 32767).
//
// stdout: JSON lines only ({"event":"phase"|"result"|"error", ...}), as the Telethon driver.

const fs = require("fs");
const readline = require("readline");

const realStdoutWrite = process.stdout.write.bind(process.stdout);
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);

function emit(obj) {
  realStdoutWrite(JSON.stringify(obj) + "\n");
}

const stdinLines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Tells the harness where we are and waits for its go-ahead (it reads our RSS meanwhile). */
async function phase(name, extra = {}) {
  emit({ event: "phase", phase: name, ...extra });
  const { done } = await stdinLines.next();
  if (done) {
    throw new StepFailed("phase", `harness closed stdin at phase ${name}`);
  }
}

class StepFailed extends Error {
  constructor(step, error) {
    super(`${step}: ${error}`);
    this.step = step;
    this.error = error;
  }
}

async function step(name, promise, timeoutMs) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StepFailed(name, `timeout after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (err) {
    if (err instanceof StepFailed) throw err;
    const text = err && err.errorMessage ? `${err.code} ${err.errorMessage}` : String(err && err.stack ? err.stack : err);
    throw new StepFailed(name, text);
  } finally {
    clearTimeout(timer);
  }
}

/** fn(item) for every item, at most `limit` at once. */
async function bounded(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

function gc() {
  if (global.gc) global.gc();
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const { TelegramClient, Api } = require("telegram");
  const { StringSession } = require("telegram/sessions");
  const { PromisedNetSockets } = require("telegram/extensions");
  const { Logger } = require("telegram/extensions/Logger");
  const version = require("telegram/package.json").version;

  const port = job.dc.port;
  class PinnedSocket extends PromisedNetSockets {
    connect(_port, _ip, testServers) {
      return super.connect(port, job.dc.host, testServers);
    }
  }
  const logger = new Logger("error");

  async function connect(account) {
    const client = new TelegramClient(new StringSession(account.session), 1, "x", {
      networkSocket: PinnedSocket,
      baseLogger: logger,
    });
    await client.connect();
    // One round trip, as every contender does: the account is then connected and receiving.
    await client.invoke(new Api.updates.GetState());
    return client;
  }

  const info = { client: "gramjs", version };
  if (job.scenario === "send") {
    emit({ event: "result", ...info, ...(await scenarioSend(job, connect)) });
  } else if (job.scenario === "scale") {
    emit({ event: "result", ...info, ...(await scenarioScale(job, connect)) });
  } else {
    throw new StepFailed("job", `unknown scenario ${job.scenario}`);
  }
}

async function scenarioSend(job, connect) {
  const { accounts } = job;
  const params = job.send;
  const clients = await step("connect", bounded(accounts, 64, connect), 120000);
  const peers = [];
  for (let i = 0; i < clients.length; i++) {
    peers.push(await step("resolve peer", clients[i].getInputEntity(accounts[i].peer), 30000));
  }
  const text = params.text;
  await step("warm-up", Promise.all(clients.map((c, i) => c.sendMessage(peers[i], { message: text }))), 60000);

  const throughput = [];
  for (const concurrency of params.concurrency) {
    await phase(`send.${concurrency}.start`);
    const start = now();
    const deadline = start + params.secs * 1000;
    let counter = 0;
    let sent = 0;
    let errors = 0;
    const worker = async () => {
      while (now() < deadline) {
        const i = counter++ % clients.length;
        try {
          await clients[i].sendMessage(peers[i], { message: text });
        } catch (err) {
          errors++;
          if (errors === 1) console.error("send failed:", err);
          continue;
        }
        if (now() <= deadline) sent++;
      }
    };
    await step(`send x${concurrency}`, Promise.all(Array.from({ length: concurrency }, worker)), (params.secs + 60) * 1000);
    await phase(`send.${concurrency}.end`);
    throughput.push({ concurrency, sent, errors, secs: (deadline - start) / 1000 });
  }

  const latencies = [];
  for (let n = 0; n < params.latency_sends; n++) {
    const t0 = now();
    await step("latency send", clients[0].sendMessage(peers[0], { message: text }), 30000);
    latencies.push(now() - t0);
  }
  await Promise.all(clients.map((c) => c.destroy()));
  return { throughput, latency_ms: latencies };
}

async function scenarioScale(job, connect) {
  const params = job.scale;
  gc();
  await phase("baseline");
  const start = now();
  const clients = await step("connect", bounded(job.accounts, params.connect_concurrency, connect), params.timeout_secs * 1000);
  const connectSecs = (now() - start) / 1000;
  await phase("connected", { secs: connectSecs });
  await new Promise((r) => setTimeout(r, params.settle_secs * 1000));
  gc();
  await phase("idle");
  await Promise.all(clients.map((c) => c.destroy()));
  return { connect_secs: connectSecs, accounts: clients.length };
}

main().then(
  () => process.exit(0),
  (err) => {
    if (err instanceof StepFailed) {
      emit({ event: "error", step: err.step, error: err.error });
    } else {
      emit({ event: "error", step: "driver", error: String(err && err.stack ? err.stack : err) });
    }
    process.exit(1);
  },
);
