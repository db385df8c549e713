#!/usr/bin/env node
"use strict";
// GramJS (npm `telegram`, which speaks layer 198) logs in to the mock DC and chats:
// real DH on DC 2, client.start() with the login code read from the control API and the 2FA
// password, getMe(), sendMessage() to a username, and getMessages() from that chat.
//
// With PEER_PHONE, a second GramJS client logs in as the peer first (code only) and must receive
// the message as a pushed update (updates + updateNewMessage, layer 198) while connected.
//
// usage: node gramjs_login_messaging.js READY_JSON_FILE PHONE PASSWORD PEER_USERNAME [PEER_PHONE]
//   PASSWORD "" means the account has no 2FA password. Both accounts must live on DC 2 (or
//   TELEGATE_GRAMJS_DC): the pinned socket dials one port, so a PHONE_MIGRATE cannot be followed.
// stdout: one JSON line; exit 0 only if every step passed.

const common = require("./lib/common");
const { TelegramClient, Api } = require("telegram");
const { StringSession } = require("telegram/sessions");
const { PromisedNetSockets } = require("telegram/extensions");
const { Raw } = require("telegram/events");

const CLIENT = "gramjs-login-messaging";
const STEP_TIMEOUT_MS = 20000;

async function loginCode(controlUrl, phone) {
  const url = `${controlUrl}/v1/login-codes/${encodeURIComponent(phone)}`;
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok || typeof body.code !== "string") {
    throw new Error(`GET ${url} answered ${response.status} ${JSON.stringify(body)}`);
  }
  return body.code;
}

function newClient(dcId, dc, socketLog) {
  const session = new StringSession("");
  // Port 80: see gramjs_handshake.js (StringSession.save() cannot store ports above 32767).
  session.setDC(dcId, dc.host, 80);
  return new TelegramClient(session, 1, "x", {
    // About one DH in 256 fails on GramJS' side (it derives the key from g_ab's minimal
    // bytes): retries turn that into a retry rather than a flaky test.
    connectionRetries: 5,
    retryDelay: 0,
    requestRetries: 1,
    autoReconnect: false,
    timeout: 10,
    networkSocket: common.pinnedSocketClass(PromisedNetSockets, dc.port, socketLog),
    baseLogger: common.makeLogger(),
  });
}

/** client.start() with the code from the control API; returns how often each callback ran. */
async function login(client, ready, phone, password, authErrors) {
  const counts = { code: 0, password: 0 };
  await client.start({
    phoneNumber: phone,
    phoneCode: async () => {
      counts.code += 1;
      return loginCode(ready.control_url, phone);
    },
    password: async () => {
      counts.password += 1;
      return password;
    },
    onError: async (err) => {
      authErrors.push(err && err.errorMessage ? `${err.code} ${err.errorMessage}` : String(err));
      return true; // stop at the first error: the mock must accept every step
    },
  });
  if (!(await client.isUserAuthorized())) {
    throw new Error("client.start() returned but the client is not authorized");
  }
  return counts;
}

async function main() {
  let step = "args";
  let client;
  let peerClient;
  const socketLog = [];
  const authErrors = [];
  try {
    const [readyPath, phone, password, peerUsername, peerPhone] = process.argv.slice(2);
    if (!readyPath || !phone || password === undefined || !peerUsername) {
      throw new Error("usage: gramjs_login_messaging.js READY_JSON_FILE PHONE PASSWORD PEER_USERNAME [PEER_PHONE]");
    }
    const dcId = Number(process.env.TELEGATE_GRAMJS_DC || 2);

    step = "read ready line";
    const ready = common.readReady(readyPath);
    const dc = common.dcById(ready, dcId);

    step = "inject RSA key";
    common.injectRsaKey(ready);

    // The peer's client, logged in and listening before the message is sent.
    let peerReceived = null;
    if (peerPhone) {
      step = "peer client.start (DH, auth.sendCode, auth.signIn)";
      peerClient = newClient(dcId, dc, socketLog);
      await common.withTimeout(login(peerClient, ready, peerPhone, "", authErrors), STEP_TIMEOUT_MS, step);
      peerReceived = new Promise((resolve) => {
        peerClient.addEventHandler((update) => {
          if (update instanceof Api.UpdateNewMessage || update instanceof Api.UpdateShortMessage) {
            resolve(update);
          }
        }, new Raw({}));
      });
    }

    step = "client.start (DH, auth.sendCode, auth.signIn, account.getPassword, auth.checkPassword)";
    client = newClient(dcId, dc, socketLog);
    const counts = await common.withTimeout(login(client, ready, phone, password, authErrors), STEP_TIMEOUT_MS, step);

    step = "getMe (users.getUsers([inputUserSelf]))";
    const me = await common.withTimeout(client.getMe(), STEP_TIMEOUT_MS, step);
    if (!(me instanceof Api.User) || !me.self) {
      throw new Error(`getMe answered ${me && me.className} self=${me && me.self}`);
    }

    step = "sendMessage (contacts.resolveUsername, layer-198 messages.sendMessage)";
    const text = `hello from GramJS layer ${require("telegram/tl/AllTLObjects").LAYER} ${Date.now()}`;
    const sent = await common.withTimeout(client.sendMessage(peerUsername, { message: text }), STEP_TIMEOUT_MS, step);
    if (!(sent instanceof Api.Message) || !sent.id) {
      throw new Error(`sendMessage answered ${sent && sent.className}`);
    }

    step = "getEntity (peer)";
    const peer = await common.withTimeout(client.getEntity(peerUsername), STEP_TIMEOUT_MS, step);
    if (!(peer instanceof Api.User)) {
      throw new Error(`getEntity(${peerUsername}) answered ${peer && peer.className}`);
    }

    step = "getMessages (messages.getHistory)";
    const history = await common.withTimeout(client.getMessages(peerUsername, { limit: 10 }), STEP_TIMEOUT_MS, step);
    const found = history.find((m) => m.id === sent.id);
    if (!found || found.message !== text || !found.out) {
      throw new Error(
        `history lacks the sent message ${sent.id}: ${JSON.stringify(history.map((m) => [m.id, m.message, m.out]))}`,
      );
    }

    let pushed = null;
    if (peerReceived) {
      step = "peer receives the message as a pushed update";
      const update = await common.withTimeout(peerReceived, STEP_TIMEOUT_MS, step);
      const message = update instanceof Api.UpdateNewMessage ? update.message : update;
      pushed = {
        update: update.className,
        text: message.message,
        out: !!message.out,
        from_user_id: message.fromId && message.fromId.userId ? message.fromId.userId.toString() : null,
        pts: update.pts,
      };
      if (pushed.text !== text || pushed.out) {
        throw new Error(`the peer got ${JSON.stringify(pushed)}`);
      }
    }

    step = "disconnect";
    for (const c of [client, peerClient].filter(Boolean)) {
      await common.withTimeout(c.destroy(), 5000, step).catch((e) => console.error(`disconnect: ${e}`));
    }

    common.emitResult({
      client: CLIENT,
      version: require("telegram/package.json").version,
      layer: require("telegram/tl/AllTLObjects").LAYER,
      ok: true,
      dc: dcId,
      code_requests: counts.code,
      password_requests: counts.password,
      peer_pushed: pushed,
      me: {
        id: me.id.toString(),
        phone: me.phone || null,
        username: me.username || null,
        first_name: me.firstName || null,
        self: !!me.self,
      },
      peer: { id: peer.id.toString(), username: peer.username || null },
      sent: { id: sent.id, text, date: sent.date },
      history: history.map((m) => ({
        id: m.id,
        text: m.message,
        out: !!m.out,
        peer_user_id: m.peerId && m.peerId.userId ? m.peerId.userId.toString() : null,
      })),
    });
    process.exit(0);
  } catch (err) {
    if (socketLog.length) console.error(socketLog.join("\n"));
    if (authErrors.length) console.error(`auth errors: ${authErrors.join("; ")}`);
    const error = authErrors.length ? new Error(`${err && err.message}; auth errors: ${authErrors.join("; ")}`) : err;
    common.fail(CLIENT, step, error);
  }
}

// A hard stop, whatever GramJS does with its retry loops.
setTimeout(() => common.fail(CLIENT, "global", new Error("global timeout (55 s)")), 55000).unref();
main();
