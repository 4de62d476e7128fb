// Read MCAP logs the way the viewers do, with @mcap/core (CRCs checked), and report what they hold.
//
//   node read_mcap.mjs FILE...   ->  one JSON line per file on stdout
//
// Each file is read twice: front to back with McapStreamReader (validateCrcs: every chunk's and
// the data section's CRC) and through its summary with McapIndexedReader (readMessages with
// validateCrcs). For every channel: topic, schema, encodings, messages counted by both readers.
// A json channel's messages are JSON.parse'd, and a jsonschema schema goes through
// `toDefinitions`: the jsonschema -> message-definition conversion that Foxglove's and
// Lichtblick's mcap-support perform (parseJsonSchema), rule for rule; what it refuses is listed
// in `refused`. And, when @foxglove/studio-base is installed, through Foxglove's own
// parseJsonSchema (foxglove_parser.mjs): `foxgloveRefused`, and each message through the
// parser's postprocessValue (`foxgloveDecoded`), as the viewer does after JSON.parse. A protobuf
// channel's schema (a FileDescriptorSet) goes through protobufjs (`protobufRefused`: what it
// could not load) and each message is decoded with the schema's type (`protobufDecoded`).
// Exit status 1 on a CRC error or any read error, with the error in the JSON line.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

import { McapIndexedReader, McapStreamReader } from "@mcap/core";
import { decompress as zstdDecompress } from "fzstd";
import lz4 from "lz4js";

import { loadFoxgloveParser } from "./foxglove_parser.mjs";

const foxglove = loadFoxgloveParser();
const require = createRequire(import.meta.url);
const protobuf = require("protobufjs");
const descriptor = require("protobufjs/ext/descriptor");

const decompressHandlers = {
  zstd: (data, size) => zstdDecompress(data, new Uint8Array(Number(size))),
  lz4: (data, size) => new Uint8Array(lz4.decompress(data, Number(size))),
};

// -- the viewers' jsonschema rules -------------------------------------------------------------

const SCALARS = { boolean: "bool", number: "float64", integer: "float64" };

/** Message definitions of a JSON Schema, as the viewers build them; throws what they throw. */
export function toDefinitions(schema, typeName, out = new Map(), path = []) {
  if (schema.type !== "object") {
    throw new Error(`${typeName}: want "type": "object", got ${JSON.stringify(schema.type)}`);
  }
  const fields = [];
  for (const [name, field] of Object.entries(schema.properties)) {
    const where = [...path, name].join(".");
    if (Array.isArray(field.oneOf) && field.oneOf.every((a) => typeof a.const === "number")) {
      fields.push({ name, type: "uint32" }); // an enum, the one oneOf taken
      continue;
    }
    for (const k of ["anyOf", "oneOf", "allOf", "$ref"]) {
      if (k in field) throw new Error(`${where}: ${k} is not supported`);
    }
    const kind = field.type;
    if (kind in SCALARS) fields.push({ name, type: SCALARS[kind] });
    else if (kind === "string") {
      if (field.contentEncoding !== undefined && field.contentEncoding !== "base64") {
        throw new Error(`${where}: contentEncoding ${field.contentEncoding}`);
      }
      fields.push({ name, type: field.contentEncoding ? "uint8" : "string", isArray: !!field.contentEncoding });
    } else if (kind === "object") {
      toDefinitions(field, `${typeName}.${name}`, out, [...path, name]);
      fields.push({ name, type: `${typeName}.${name}`, isComplex: true });
    } else if (kind === "array") {
      const item = field.items;
      if (item === null || typeof item !== "object") throw new Error(`${where}: array without items`);
      for (const k of ["anyOf", "oneOf", "allOf", "$ref"]) {
        if (k in item) throw new Error(`${where}[]: ${k} is not supported`);
      }
      if (item.type in SCALARS) fields.push({ name, type: SCALARS[item.type], isArray: true });
      else if (item.type === "string" && item.contentEncoding === undefined) {
        fields.push({ name, type: "string", isArray: true });
      } else if (item.type === "object") {
        toDefinitions(item, `${typeName}.${name}`, out, [...path, name]);
        fields.push({ name, type: `${typeName}.${name}`, isComplex: true, isArray: true });
      } else throw new Error(`${where}: unsupported array item type ${JSON.stringify(item.type)}`);
    } else throw new Error(`${where}: unsupported type ${JSON.stringify(kind)}`);
  }
  out.set(typeName, fields);
  return out;
}

// -- reading -----------------------------------------------------------------------------------

function readableOf(bytes) {
  return {
    size: async () => BigInt(bytes.byteLength),
    read: async (offset, length) => bytes.subarray(Number(offset), Number(offset + length)),
  };
}

async function describe(file) {
  const bytes = new Uint8Array(await readFile(file));
  const channels = new Map(); // id -> {topic, schemaName, schemaEncoding, messageEncoding, ...}
  const schemas = new Map();
  const stream = new McapStreamReader({ decompressHandlers, validateCrcs: true });
  stream.append(bytes);
  let streamed = 0;
  let footer = false;
  for (let rec; (rec = stream.nextRecord()) !== undefined; ) {
    if (rec.type === "Schema" && !schemas.has(rec.id)) schemas.set(rec.id, rec);
    else if (rec.type === "Channel" && !channels.has(rec.id)) { // (the summary repeats it)
      const schema = schemas.get(rec.schemaId);
      channels.set(rec.id, {
        topic: rec.topic, schemaName: schema?.name ?? "", schemaEncoding: schema?.encoding ?? "",
        messageEncoding: rec.messageEncoding, metadata: Object.fromEntries(rec.metadata),
        streamed: 0, indexed: 0, jsonParsed: 0, refused: null, fields: 0,
        foxgloveRefused: null, foxgloveFields: 0, foxgloveDecoded: 0, post: null,
        protobufRefused: null, protobufDecoded: 0, pb: null,
      });
      const ch = channels.get(rec.id);
      if (schema?.encoding === "protobuf") {
        try {
          const set = descriptor.FileDescriptorSet.decode(schema.data);
          ch.pb = protobuf.Root.fromDescriptor(set).lookupType(schema.name);
        } catch (err) {
          ch.protobufRefused = String(err.message ?? err);
        }
      }
      if (schema?.encoding === "jsonschema") {
        const json = JSON.parse(new TextDecoder().decode(schema.data));
        try {
          ch.fields = toDefinitions(json, schema.name).get(schema.name).length;
        } catch (err) {
          ch.refused = String(err.message ?? err);
        }
        if (foxglove.parseJsonSchema) {
          try {
            const { datatypes, postprocessValue } = foxglove.parseJsonSchema(json, schema.name);
            ch.foxgloveFields = datatypes.get(schema.name).definitions.length;
            ch.post = postprocessValue;
          } catch (err) {
            ch.foxgloveRefused = String(err.message ?? err);
          }
        }
      }
    } else if (rec.type === "Message") {
      const ch = channels.get(rec.channelId);
      ch.streamed += 1;
      streamed += 1;
      if (ch.messageEncoding === "json") {
        const value = JSON.parse(new TextDecoder().decode(rec.data)); // throws on bad JSON
        ch.jsonParsed += 1;
        if (ch.post) {
          ch.post(value); // throws where the viewer would
          ch.foxgloveDecoded += 1;
        }
      }
      if (ch.messageEncoding === "protobuf" && ch.pb) {
        ch.pb.decode(rec.data); // throws on a message its schema does not describe
        ch.protobufDecoded += 1;
      }
    } else if (rec.type === "Footer") footer = true;
  }
  if (!stream.done()) throw new Error(`stream reader stopped with ${stream.bytesRemaining()} bytes left`);
  const indexed = await McapIndexedReader.Initialize({ readable: readableOf(bytes), decompressHandlers });
  let indexedCount = 0;
  for await (const msg of indexed.readMessages({ validateCrcs: true })) {
    channels.get(msg.channelId).indexed += 1;
    indexedCount += 1;
  }
  const stats = indexed.statistics;
  return {
    file, ok: true, footer, streamed, indexed: indexedCount,
    statisticsMessageCount: stats ? Number(stats.messageCount) : null,
    profile: indexed.header.profile, library: indexed.header.library,
    foxgloveParser: foxglove.source ?? null, foxgloveParserMissing: foxglove.reason ?? null,
    channels: [...channels.values()].map(({ post, pb, ...rest }) => rest),
  };
}

let failed = false;
for (const file of process.argv.slice(2)) {
  try {
    console.log(JSON.stringify(await describe(file)));
  } catch (err) {
    failed = true;
    console.log(JSON.stringify({ file, ok: false, error: String(err?.message ?? err) }));
  }
}
process.exit(failed ? 1 : 0);
