#!/usr/bin/env node
"use strict";
// GramJS (npm `telegram`) against the mock DC over WebSocket (ws://127.0.0.1:PORT/apiws) with a
// pre-shared auth key (no DH): help.getConfig and ping, once per MTProto transport inside the frames:
//   full        - ConnectionTCPFull, GramJS' default on Node (what `useWSS: true` alone gives)
//   obfuscated  - ConnectionTCPObfuscated (obfuscated2 + abridged), GramJS' default in browsers
// See NOTES-wss.md for what exactly goes over the wire.
//
// usage: node gramjs_wss.js READY_JSON_FILE AUTH_KEY_HEX DC_ID [full|obfuscated|both]   (default both)
// stdout: one JSON line; exit 0 only if every variant passed.

const common = require("./lib/common");
const { TelegramClient, Api } = require("telegram");
const { StringSession } = require("telegram/sessions");
const { PromisedWebSockets } = require("telegram/extensions");
const { ConnectionTCPFull, ConnectionTCPObfuscated } = require("telegram/network");
const bigInt = require("big-integer");

const CLIENT = "gramjs-wss";
const STEP_TIMEOUT_MS = 15000;

/**
 * GramJS StringSession: "1" + base64(dc u8 | addr_len i16 BE | address | port 16-bit BE | key 256).
 * GramJS writes the port with writeInt16BE, which throws for ports above 32767 (every ephemeral
 * port); the same two bytes are written unsigned here, and GramJS reads them back as a negative
 * number, which it never uses for the connection anyway.
 */
function buildSessionString(dcId, address, port, key) {
  const addr = Buffer.from(address, "ascii");
  const addrLen = Buffer.alloc(2);
  addrLen.writeInt16BE(addr.length, 0);
  const portBuf = Buffer.alloc(2);
  portBuf.writeUInt16BE(port, 0);
  return "1" + Buffer.concat([Buffer.from([dcId]), addrLen, addr, portBuf, key]).toString("base64");
}

async function runVariant(variant, ready, dc, dcId, key) {
  let step = "create client";
  let client;
  const socketLog = [];
  try {
    const session = new StringSession(buildSessionString(dcId, dc.host, dc.port, key));
    if (session.dcId !== dcId || session.serverAddress !== dc.host) {
      throw new Error(`StringSession decoded to dc ${session.dcId} at ${session.serverAddress}`);
    }
    client = new TelegramClient(session, 1, "x", {
      useWSS: true,
      connection: variant === "obfuscated" ? ConnectionTCPObfuscated : ConnectionTCPFull,
      networkSocket: common.pinnedSocketClass(PromisedWebSockets, dc.port, socketLog),
      connectionRetries: 1,
      retryDelay: 0,
      requestRetries: 1,
      autoReconnect: false,
      timeout: 10,
      baseLogger: common.makeLogger(),
    });

    step = `connect over WebSocket (${variant}), invokeWithLayer(initConnection(help.getConfig))`;
    const connected = await common.withTimeout(client.connect(), STEP_TIMEOUT_MS, step);
    if (!connected) {
      throw new Error("client.connect() returned false (WebSocket connection failed; see stderr)");
    }
    const usedKey = client.session.getAuthKey().getKey();
    if (!usedKey || !Buffer.from(usedKey).equals(key)) {
      throw new Error("the client is not using the pre-shared auth key (did it run DH?)");
    }

    step = `help.getConfig (${variant})`;
    const config = await common.withTimeout(client.invoke(new Api.help.GetConfig()), STEP_TIMEOUT_MS, step);
    if (!(config instanceof Api.Config)) {
      throw new Error(`help.getConfig answered ${config && config.className}`);
    }
    const dcOptions = common.checkDcOptions(config, ready);
    if (config.thisDc !== dcId) {
      throw new Error(`config.this_dc = ${config.thisDc}, expected ${dcId}`);
    }

    step = `ping (${variant})`;
    const pingId = bigInt(Math.floor(Math.random() * 1e15));
    const pong = await common.withTimeout(client.invoke(new Api.Ping({ pingId })), STEP_TIMEOUT_MS, step);
    if (!(pong instanceof Api.Pong) || !bigInt(pong.pingId).equals(pingId)) {
      throw new Error(`ping answered ${pong && pong.className} ping_id=${pong && pong.pingId}`);
    }

    step = `disconnect (${variant})`;
    await common.withTimeout(client.destroy(), 5000, step).catch((e) => console.error(`disconnect: ${e}`));
    return {
      transport: variant,
      ok: true,
      url: `ws://127.0.0.1:${dc.port}/apiws`,
      this_dc: config.thisDc,
      dc_options: dcOptions,
      sockets: socketLog,
    };
  } catch (err) {
    if (socketLog.length) console.error(socketLog.join("\n"));
    console.error(`[${CLIENT}/${variant}] FAILED at step '${step}': ${err && err.stack ? err.stack : err}`);
    if (client) {
      await common.withTimeout(client.destroy(), 3000, "destroy").catch(() => {});
    }
    return {
      transport: variant,
      ok: false,
      step,
      error: err && err.errorMessage ? `${err.code} ${err.errorMessage}` : String(err && err.message ? err.message : err),
    };
  }
}

async function main() {
  let step = "args";
  try {
    const [readyPath, keyHex, dcArg, which = "both"] = process.argv.slice(2);
    if (!readyPath || !keyHex || !dcArg) {
      throw new Error("usage: gramjs_wss.js READY_JSON_FILE AUTH_KEY_HEX DC_ID [full|obfuscated|both]");
    }
    const dcId = Number(dcArg);
    const key = Buffer.from(keyHex.trim(), "hex");
    if (key.length !== 256) {
      throw new Error(`AUTH_KEY_HEX must be 512 hex chars (got ${key.length} bytes)`);
    }
    const variants = which === "both" ? ["full", "obfuscated"] : [which];
    if (!variants.every((v) => v === "full" || v === "obfuscated")) {
      throw new Error(`unknown transport '${which}'`);
    }

    step = "read ready line";
    const ready = common.readReady(readyPath);
    const dc = common.dcById(ready, dcId);
    if (dc.ws_url && dc.ws_url !== `ws://127.0.0.1:${dc.port}/apiws`) {
      console.error(`note: ready line ws_url is ${dc.ws_url}`);
    }

    const results = [];
    for (const variant of variants) {
      results.push(await runVariant(variant, ready, dc, dcId, key));
    }
    const ok = results.every((r) => r.ok);
    common.emitResult({
      client: CLIENT,
      version: require("telegram/package.json").version,
      ok,
      dc: dcId,
      port: dc.port,
      variants: results,
    });
    process.exit(ok ? 0 : 1);
  } catch (err) {
    common.fail(CLIENT, step, err);
  }
}

setTimeout(() => common.fail(CLIENT, "global", new Error("global timeout (50 s)")), 50000).unref();
main();
