#!/usr/bin/env node
// Adds V8 flags to the workerd configuration Miniflare sends (a binary Cap'n Proto message on
// stdin), writing the result to stdout: workerd honours `Config.v8Flags`, Miniflare has no option
// for it. Used by bench/workerd-v8-flags.sh (MINIFLARE_WORKERD_PATH), e.g. with
// TG_V8_FLAGS=--trace-wasm-compilation-times for bench/first-request.mjs's COMPILED=1.
//
// The message must be one segment whose root struct (workerd.capnp `Config`) has no v8Flags yet:
// the flags go in a List(Text) appended to that segment, pointed to from Config's pointer 2
// (`v8Flags @2`, after `services` and `sockets`). Anything else is passed on unchanged, with a
// warning, so workerd still starts.
const flags = (process.env.TG_V8_FLAGS ?? "").split(" ").filter(Boolean);
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const msg = Buffer.concat(chunks);

function withFlags(buf) {
  if (flags.length === 0 || buf.readUInt32LE(0) !== 0) return null; // no flags, or not one segment
  const words = buf.readUInt32LE(4);
  const base = 8; // segment table: count-1 and one size (two 32-bit words)
  const word = (i) => buf.readBigUInt64LE(base + 8 * i);
  const root = word(0);
  if ((root & 3n) !== 0n) return null; // the root must be a struct pointer
  const start = 1 + Number(BigInt.asIntN(30, (root >> 2n) & 0x3fffffffn));
  const dataWords = Number((root >> 32n) & 0xffffn);
  const pointers = Number((root >> 48n) & 0xffffn);
  const slot = start + dataWords + 2;
  if (pointers < 3 || word(slot) !== 0n) return null; // v8Flags already set, or an older schema
  // The appended words: the list of N text pointers, then each text (bytes + NUL, word-padded).
  const texts = flags.map((f) => Buffer.from(`${f}\0`, "utf8"));
  const textWords = texts.map((t) => Math.ceil(t.length / 8));
  const added = Buffer.alloc(8 * (flags.length + textWords.reduce((a, b) => a + b, 0)));
  const listPtr = (offset, size, count) =>
    (BigInt.asUintN(30, BigInt(offset)) << 2n) | 1n | (BigInt(size) << 32n) | (BigInt(count) << 35n);
  let at = words + flags.length; // word index of the next text
  texts.forEach((t, i) => {
    const self = words + i;
    added.writeBigUInt64LE(listPtr(at - (self + 1), 2, t.length), 8 * i); // bytes, NUL included
    t.copy(added, 8 * (at - words));
    at += textWords[i];
  });
  const out = Buffer.concat([buf, added]);
  out.writeUInt32LE(words + added.length / 8, 4);
  out.writeBigUInt64LE(listPtr(words - (slot + 1), 6, flags.length), base + 8 * slot); // pointers
  return out;
}

const patched = withFlags(msg);
if (flags.length && !patched) console.error("workerd-v8-flags: configuration left unchanged (not one segment, or v8Flags set)");
process.stdout.write(patched ?? msg);
