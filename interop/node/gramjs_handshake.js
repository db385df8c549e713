#!/usr/bin/env node
"use strict";
// GramJS (npm `telegram`) against the mock DC over TCP: a real DH handshake with the mock's RSA key,
// then help.getConfig, help.getNearestDc, ping and a method the mock does not implement.
//
// usage: node gramjs_handshake.js READY_JSON_FILE [DC_ID]      (DC_ID defaults to 2)
// stdout: one JSON line; exit 0 only if every step passed.

const common = require("./lib/common");
const { TelegramClient, Api } = require("telegram");
const { StringSession } = require("telegram/sessions");
const { PromisedNetSockets } = require("telegram/extensions");

const CLIENT = "gramjs";
const STEP_TIMEOUT_MS = 15000;

async function main() {
  let step = "args";
  let client;
  const socketLog = [];
  try {
    const [readyPath, dcArg] = process.argv.slice(2);
    if (!readyPath) {
      throw new Error("usage: gramjs_handshake.js READY_JSON_FILE [DC_ID]");
    }
    const dcId = dcArg ? Number(dcArg) : 2;

    step = "read ready line";
    const ready = common.readReady(readyPath);
    const dc = common.dcById(ready, dcId);

    step = "inject RSA key";
    const fingerprint = common.injectRsaKey(ready);

    step = "create client";
    const session = new StringSession("");
    // The session's port is only stored: GramJS dials port 80 (443 with useWSS) whatever it says,
    // and the pinned socket class below dials the mock's port. Store 80, because
    // StringSession.save() (run right after DH) writes the port with writeInt16BE and throws
    // RangeError for any port above 32767, i.e. for every ephemeral port the mock gets.
    session.setDC(dcId, dc.host, 80);
    client = new TelegramClient(session, 1, "x", {
      // GramJS (like Telethon) derives the auth key from g_ab's minimal bytes, so about one
      // handshake in 256 fails on the client side whatever the server does (real Telegram too):
      // retries make that a retry rather than a flaky test.
      connectionRetries: 4,
      retryDelay: 0,
      requestRetries: 1,
      autoReconnect: false,
      timeout: 10,
      networkSocket: common.pinnedSocketClass(PromisedNetSockets, dc.port, socketLog),
      baseLogger: common.makeLogger(),
    });

    step = "connect (TCP Full, DH handshake, invokeWithLayer(initConnection(help.getConfig)))";
    const connected = await common.withTimeout(client.connect(), STEP_TIMEOUT_MS, step);
    if (!connected) {
      throw new Error("client.connect() returned false (connection or DH handshake failed; see stderr)");
    }
    const authKey = client.session.getAuthKey();
    if (!authKey || !authKey.getKey()) {
      throw new Error("connected but no auth key was generated");
    }

    step = "help.getConfig";
    const config = await common.withTimeout(client.invoke(new Api.help.GetConfig()), STEP_TIMEOUT_MS, step);
    if (!(config instanceof Api.Config)) {
      throw new Error(`help.getConfig answered ${config && config.className}`);
    }
    const dcOptions = common.checkDcOptions(config, ready);
    if (config.thisDc !== dcId) {
      throw new Error(`config.this_dc = ${config.thisDc}, expected ${dcId}`);
    }

    step = "help.getNearestDc";
    const nearest = await common.withTimeout(client.invoke(new Api.help.GetNearestDc()), STEP_TIMEOUT_MS, step);
    if (!(nearest instanceof Api.NearestDc) || nearest.thisDc !== dcId) {
      throw new Error(`help.getNearestDc answered ${JSON.stringify(nearest)}`);
    }

    step = "ping";
    const bigInt = require("big-integer");
    const pingId = bigInt(Math.floor(Math.random() * 1e15));
    const pong = await common.withTimeout(client.invoke(new Api.Ping({ pingId })), STEP_TIMEOUT_MS, step);
    if (!(pong instanceof Api.Pong) || !bigInt(pong.pingId).equals(pingId)) {
      throw new Error(`ping answered ${pong && pong.className} ping_id=${pong && pong.pingId}`);
    }

    step = "unimplemented method (stickers.suggestShortName)";
    let rpcError;
    try {
      await common.withTimeout(
        client.invoke(new Api.stickers.SuggestShortName({ title: "telegate interop" })),
        STEP_TIMEOUT_MS,
        step,
      );
    } catch (e) {
      rpcError = e;
    }
    if (!rpcError || rpcError.errorMessage !== "METHOD_NOT_IMPLEMENTED_IN_MOCK" || rpcError.code !== 400) {
      throw new Error(
        `expected rpc_error 400 METHOD_NOT_IMPLEMENTED_IN_MOCK, got ${
          rpcError ? `${rpcError.code} ${rpcError.errorMessage || rpcError.message}` : "a result"
        }`,
      );
    }

    step = "disconnect";
    await common.withTimeout(client.destroy(), 5000, step).catch((e) => console.error(`disconnect: ${e}`));

    common.emitResult({
      client: CLIENT,
      version: require("telegram/package.json").version,
      transport: "tcp-full",
      ok: true,
      dc: dcId,
      port: dc.port,
      rsa_fingerprint: fingerprint,
      auth_key_id: authKey.keyId ? authKey.keyId.toString() : null,
      this_dc: config.thisDc,
      dc_options: dcOptions,
      nearest_dc: nearest.nearestDc,
      pong: pong.pingId.toString(),
      unimplemented_error: `${rpcError.code} ${rpcError.errorMessage}`,
      sockets: socketLog,
    });
    process.exit(0);
  } catch (err) {
    if (socketLog.length) console.error(socketLog.join("\n"));
    common.fail(CLIENT, step, err);
  }
}

// A hard stop, whatever GramJS does with its retry loops.
setTimeout(() => common.fail(CLIENT, "global", new Error("global timeout (50 s)")), 50000).unref();
main();
