"use strict";
// Shared helpers for the GramJS interop scripts. Everything GramJS (or anything else) prints with
// console.log goes to stderr: stdout carries exactly one JSON result line.

const fs = require("fs");
const crypto = require("crypto");

const realStdoutWrite = process.stdout.write.bind(process.stdout);
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
console.debug = (...args) => console.error(...args);
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);

const bigInt = require("big-integer");
const { Logger } = require("telegram/extensions/Logger");
const RSA = require("telegram/crypto/RSA");

const DEBUG = !!process.env.TELEGATE_INTEROP_DEBUG;

function emitResult(obj) {
  realStdoutWrite(JSON.stringify(obj) + "\n");
}

function fail(client, step, err) {
  const message = err && err.stack ? err.stack : String(err);
  console.error(`[${client}] FAILED at step '${step}': ${message}`);
  emitResult({
    client,
    ok: false,
    step,
    error: err && err.errorMessage ? `${err.code} ${err.errorMessage}` : String(err && err.message ? err.message : err),
  });
  process.exit(1);
}

/** Rejects after `ms` with a message naming `what`; the promise itself is not cancelled. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function readReady(path) {
  const text = fs.readFileSync(path, "utf8").trim();
  // Accept a file holding the ready line among other output: take the last JSON "ready" line.
  const lines = text.split("\n").filter((l) => l.trim().startsWith("{"));
  for (let i = lines.length - 1; i >= 0; i--) {
    const obj = JSON.parse(lines[i]);
    if (obj.event === "ready") {
      return obj;
    }
  }
  throw new Error(`no {"event":"ready"} line in ${path}`);
}

function dcById(ready, id) {
  const dc = ready.dcs.find((d) => d.id === id);
  if (!dc) {
    throw new Error(`DC ${id} is not in the ready line (have ${ready.dcs.map((d) => d.id)})`);
  }
  return dc;
}

/** TL `bytes` serialization (length prefix + padding to 4). */
function tlBytes(buf) {
  let head;
  if (buf.length < 254) {
    head = Buffer.from([buf.length]);
  } else {
    head = Buffer.from([254, buf.length & 0xff, (buf.length >> 8) & 0xff, (buf.length >> 16) & 0xff]);
  }
  const total = head.length + buf.length;
  const pad = (4 - (total % 4)) % 4;
  return Buffer.concat([head, buf, Buffer.alloc(pad)]);
}

function stripLeadingZeros(buf) {
  let i = 0;
  while (i < buf.length - 1 && buf[i] === 0) i++;
  return buf.subarray(i);
}

/**
 * Registers the mock's RSA public key with GramJS (key map keyed by the signed decimal fingerprint,
 * values {n: bigInt, e: number}, as in telegram/crypto/RSA.js). Checks that the fingerprint we
 * compute matches the one the mock announced.
 */
function injectRsaKey(ready) {
  const pem = ready.rsa.public_key_pem;
  const jwk = crypto.createPublicKey({ key: pem, format: "pem", type: "pkcs1" }).export({ format: "jwk" });
  const n = stripLeadingZeros(Buffer.from(jwk.n, "base64url"));
  const e = stripLeadingZeros(Buffer.from(jwk.e, "base64url"));
  const digest = crypto.createHash("sha1").update(Buffer.concat([tlBytes(n), tlBytes(e)])).digest();
  const computed = digest.subarray(12, 20).readBigInt64LE(0);
  const announced = BigInt(ready.rsa.fingerprint);
  if (computed !== announced) {
    throw new Error(`RSA fingerprint mismatch: ready line says ${announced}, key hashes to ${computed}`);
  }
  RSA._serverKeys.set(announced.toString(), {
    n: bigInt(n.toString("hex"), 16),
    e: Number(BigInt("0x" + e.toString("hex"))),
  });
  return announced.toString();
}

/** A subclass of `base` (PromisedNetSockets / PromisedWebSockets) that always dials 127.0.0.1:port. */
function pinnedSocketClass(base, port, log) {
  return class PinnedSocket extends base {
    connect(_port, _ip, testServers) {
      log.push(`socket connect requested ${_ip}:${_port}, dialing 127.0.0.1:${port}`);
      return super.connect(port, "127.0.0.1", testServers);
    }
  };
}

function makeLogger() {
  const logger = new Logger(DEBUG ? "debug" : "error");
  return logger;
}

function checkDcOptions(config, ready) {
  const options = (config.dcOptions || []).map((o) => ({
    id: o.id,
    ip: o.ipAddress,
    port: o.port,
    ipv6: !!o.ipv6,
    media_only: !!o.mediaOnly,
    tcpo_only: !!o.tcpoOnly,
    static: !!o.static,
  }));
  const missing = ready.dcs.filter(
    (dc) => !options.some((o) => o.id === dc.id && o.ip === dc.host && o.port === dc.port),
  );
  if (missing.length) {
    throw new Error(
      `config.dc_options lacks the mock's DCs ${JSON.stringify(missing)}; got ${JSON.stringify(options)}`,
    );
  }
  return options;
}

module.exports = {
  DEBUG,
  emitResult,
  fail,
  withTimeout,
  readReady,
  dcById,
  injectRsaKey,
  pinnedSocketClass,
  makeLogger,
  checkDcOptions,
};
