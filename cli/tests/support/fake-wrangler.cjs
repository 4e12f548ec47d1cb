#!/usr/bin/env node
// A stand-in for `wrangler kv ...` in the CLI's sync tests: keeps the namespace as a JSON file
// ($FAKE_KV) and appends each invocation's arguments to $FAKE_KV.log, so tests can check both
// what was written and which flags were passed. Only the subcommands `policy sync` and `credentials` use exist.
"use strict";
const fs = require("fs");
const store = process.env.FAKE_KV;
const args = process.argv.slice(2);
fs.appendFileSync(store + ".log", JSON.stringify(args) + "\n");
const kv = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, "utf8")) : {};
const save = () => fs.writeFileSync(store, JSON.stringify(kv));
const [group, sub, verb] = args;
if (process.env.FAKE_FAIL) {
  console.error("✘ [ERROR] A request to the Cloudflare API failed: Authentication error [code: 10000]");
  process.exit(1);
}
if (group !== "kv") process.exit(2);
if (sub === "key" && verb === "list") {
  const i = args.indexOf("--prefix");
  const prefix = i >= 0 ? args[i + 1] : "";
  console.log(JSON.stringify(Object.keys(kv).filter((k) => k.startsWith(prefix)).sort().map((name) => ({ name }))));
} else if (sub === "key" && verb === "put") {
  kv[args[3]] = args[4];
  save();
} else if (sub === "key" && verb === "delete") {
  delete kv[args[3]];
  save();
} else if (sub === "key" && verb === "get") {
  process.stdout.write(kv[args[3]] ?? "Value not found");
} else if (sub === "bulk" && verb === "put") {
  for (const { key, value } of JSON.parse(fs.readFileSync(args[3], "utf8"))) kv[key] = value;
  save();
} else if (sub === "bulk" && verb === "delete") {
  if (!args.includes("--force")) process.exit(3);
  for (const key of JSON.parse(fs.readFileSync(args[3], "utf8"))) delete kv[key];
  save();
} else {
  process.exit(2);
}
