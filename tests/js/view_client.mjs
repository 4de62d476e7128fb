// The live view as a viewer sees it: @foxglove/ws-protocol's FoxgloveClient over `ws`, advertising
// foxglove.sdk.v1 (foxglove-sdk's server answers foxglove.websocket.v1 with HTTP 400).
//   node view_client.mjs ws://127.0.0.1:PORT SECONDS [slow|stall]
// Subscribes to every advertised channel (and to those advertised later), decodes each message:
// a json channel: JSON.parse, then the channel's JSON Schema checked (every property's type,
// arrays' items), a top-level string with contentEncoding base64 decoded as the viewers do; a
// protobuf channel: protobufjs with the FileDescriptorSet the server advertised (base64 in the
// advertisement, as the protocol has it), the message type named by the schema, every field
// in the sample (defaults too, int64 as numbers; the other messages are decoded, not converted
// to plain objects). A bytes field (foxglove.RawImage's data) is
// held in the sample as its length in bytes.
// With `slow`, it reads nothing for SECONDS (a stalled viewer) before it counts. With `stall`, it
// subscribes, then stops reading at its first message for SECONDS (a stalled subscriber), then reads on.
// Prints one JSON line: {channels: {topic: {schemaName, encoding, messages, bad, sample}}, errors}.
import { createRequire } from "node:module";

import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

const require = createRequire(import.meta.url);
const protobuf = require("protobufjs");
const descriptor = require("protobufjs/ext/descriptor");
const { FoxgloveClient } = wsProtocol;

const [url, seconds, mode] = process.argv.slice(2);
const ws = new WebSocket(url, ["foxglove.sdk.v1"]);
const client = new FoxgloveClient({ ws });
const byId = new Map();
const bySub = new Map();
const out = { channels: {}, errors: [] };

function typeOk(schema, value, path, errors) {
  if (schema === undefined || value === null) return; // null: a NaN number, or a field left out
  const t = schema.type;
  const ok = {
    object: () => typeof value === "object" && !Array.isArray(value),
    array: () => Array.isArray(value),
    number: () => typeof value === "number",
    integer: () => Number.isInteger(value),
    string: () => typeof value === "string",
    boolean: () => typeof value === "boolean",
  }[t];
  if (ok === undefined) { errors.push(`${path}: schema type ${t} unknown`); return; }
  if (!ok()) { errors.push(`${path}: want ${t}, got ${JSON.stringify(value).slice(0, 40)}`); return; }
  if (t === "object") {
    for (const [k, v] of Object.entries(value)) {
      const sub = schema.properties?.[k];
      if (sub === undefined) errors.push(`${path}.${k}: not in the schema`);
      else typeOk(sub, v, `${path}.${k}`, errors);
    }
  } else if (t === "array") {
    value.slice(0, 50).forEach((v, i) => typeOk(schema.items, v, `${path}[${i}]`, errors));
  }
}

function decodeBytes(schema, msg, path, errors) {
  for (const [k, sub] of Object.entries(schema?.properties ?? {})) {
    if (sub.contentEncoding !== "base64" || typeof msg[k] !== "string") continue;
    const bytes = Buffer.from(msg[k], "base64");
    if (bytes.toString("base64") !== msg[k]) errors.push(`${path}.${k}: not base64`);
    msg[k] = bytes.length;
  }
}

/** The protobuf message type of a channel: its advertised FileDescriptorSet (base64), the schema's name. */
function protobufType(ch) {
  const set = descriptor.FileDescriptorSet.decode(Buffer.from(ch.schema, "base64"));
  return protobuf.Root.fromDescriptor(set).lookupType(ch.schemaName);
}

/** Decodes a protobuf message (throws on bytes its type does not describe); plain data only when `plain`. */
function decodeProtobuf(type, data, plain) {
  const decoded = type.decode(data);
  if (!plain) return decoded;
  const msg = type.toObject(decoded, { longs: Number, enums: String, defaults: true, arrays: true });
  for (const [k, v] of Object.entries(msg)) if (v instanceof Uint8Array) msg[k] = v.length;
  return msg;
}

client.on("advertise", (channels) => {
  for (const ch of channels) {
    let schema, pb;
    try {
      schema = ch.schemaEncoding === "jsonschema" ? JSON.parse(ch.schema) : undefined;
      pb = ch.encoding === "protobuf" ? protobufType(ch) : undefined;
    } catch (e) {
      out.errors.push(`${ch.topic}: schema: ${e}`);
    }
    byId.set(ch.id, { ...ch, parsed: schema, pb });
    out.channels[ch.topic] = { schemaName: ch.schemaName, encoding: ch.encoding, messages: 0, bad: 0, sample: null };
    bySub.set(client.subscribe(ch.id), ch.id);
  }
});
client.on("message", ({ subscriptionId, data }) => {
  const ch = byId.get(bySub.get(subscriptionId));
  if (ch === undefined) return;
  const rec = out.channels[ch.topic];
  rec.messages += 1;
  try {
    const errors = [];
    let msg;
    if (ch.encoding === "protobuf") {
      if (ch.pb === undefined) throw new Error("no protobuf type");
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      msg = decodeProtobuf(ch.pb, bytes, rec.sample === null); // plain data for the sample alone
    } else {
      msg = JSON.parse(new TextDecoder().decode(data));
      typeOk(ch.parsed, msg, ch.topic, errors);
      decodeBytes(ch.parsed, msg, ch.topic, errors);
    }
    if (errors.length) { rec.bad += 1; out.errors.push(...errors.slice(0, 3)); }
    if (rec.sample === null) rec.sample = msg;
  } catch (e) {
    rec.bad += 1;
    out.errors.push(`${ch.topic}: ${e}`);
  }
});
client.on("error", (e) => out.errors.push(`client: ${e.message ?? e}`));

const done = () => { ws.close(); process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0)); };
if (mode === "stall") {
  let stalled = false;
  client.on("message", () => {
    if (stalled) return;
    stalled = true;
    ws._socket.pause(); // subscribed, and reading nothing: the server's buffer for us fills
    setTimeout(() => { ws._socket.resume(); setTimeout(done, 2000); }, Number(seconds) * 1000);
  });
} else if (mode === "slow") {
  ws.on("open", () => ws._socket.pause()); // read nothing: the server's buffer for us fills
  setTimeout(() => { ws._socket.resume(); setTimeout(done, 1500); }, Number(seconds) * 1000);
} else {
  setTimeout(done, Number(seconds) * 1000);
}
