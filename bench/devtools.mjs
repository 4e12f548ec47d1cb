// The DevTools protocol on a Miniflare worker's inspector socket, for bench/profile.mjs and
// bench/first-request.mjs: connect to one worker's isolate and take V8 CPU profiles of it.
import WebSocket from "ws";

/** Connects to the isolate of worker `name` (Miniflare's target id `core:user:<name>`). */
export async function connect(inspectorPort, name) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const target = targets.find((t) => t.id === `core:user:${name}`);
  if (!target) throw new Error(`no ${name} target among ${targets.map((t) => t.id).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  let nextId = 0;
  const pending = new Map();
  ws.on("message", (m) => {
    const msg = JSON.parse(m);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(JSON.stringify(msg.error)));
    else p.resolve(msg.result);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await new Promise((r) => ws.once("open", r));
  await send("Profiler.enable");
  return {
    send,
    /** A CPU profile of the isolate while `work()` runs, sampled every `intervalUs`. */
    async profile(work, intervalUs = 100) {
      await send("Profiler.setSamplingInterval", { interval: intervalUs });
      await send("Profiler.start");
      await work();
      return (await send("Profiler.stop")).profile;
    },
    close: () => ws.close(),
  };
}

/** Milliseconds the isolate's thread was busy in `profile` (every sample but "(idle)"). */
export function busyMs(profile) {
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  let us = 0;
  profile.samples.forEach((id, i) => {
    if (!idle.has(id)) us += profile.timeDeltas[i] ?? 0;
  });
  return us / 1000;
}
