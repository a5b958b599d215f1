// merge.test.mjs -- the three-way merge of web/optimist.js, and the client's
// conflict loop against a fake fetch (node --test tests/web/).
// Node 18 (Debian 12) has WebCrypto only under node:crypto.
if (!globalThis.crypto) globalThis.crypto = (await import("node:crypto")).webcrypto;
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  threeWayMerge, applyChoices, jsonEqual, Client, Record, ApiError, newKey, versionOfEtag,
  ChatOutbox, readEventStream,
} from "../../web/optimist.js";

test("different fields merge by themselves", () => {
  const base = { title: "Shop", tagline: "old", color: "blue" };
  const mine = { ...base, title: "My shop" };
  const theirs = { ...base, tagline: "new" };
  const { merged, conflicts } = threeWayMerge(base, mine, theirs);
  assert.deepEqual(merged, { title: "My shop", tagline: "new", color: "blue" });
  assert.deepEqual(conflicts, []);
});

test("the same field changed on both sides is a conflict; merged holds theirs", () => {
  const base = { title: "Shop", color: "blue" };
  const { merged, conflicts } = threeWayMerge(base, { ...base, title: "A" }, { ...base, title: "B", color: "red" });
  assert.deepEqual(merged, { title: "B", color: "red" });
  assert.deepEqual(conflicts, [{ path: ["title"], base: "Shop", mine: "A", theirs: "B" }]);
  assert.deepEqual(applyChoices(merged, conflicts, ["mine"]), { title: "A", color: "red" });
  assert.deepEqual(applyChoices(merged, conflicts, ["theirs"]), { title: "B", color: "red" });
});

test("the same change on both sides is no conflict", () => {
  const base = { n: 1 };
  const r = threeWayMerge(base, { n: 2 }, { n: 2 });
  assert.deepEqual(r, { merged: { n: 2 }, conflicts: [] });
});

test("nested objects merge field by field, at any depth", () => {
  const base = { theme: { colors: { fg: "black", bg: "white" }, font: "serif" } };
  const mine = { theme: { colors: { fg: "navy", bg: "white" }, font: "serif" } };
  const theirs = { theme: { colors: { fg: "black", bg: "ivory" }, font: "sans" } };
  const { merged, conflicts } = threeWayMerge(base, mine, theirs);
  assert.deepEqual(merged, { theme: { colors: { fg: "navy", bg: "ivory" }, font: "sans" } });
  assert.deepEqual(conflicts, []);
  const c = threeWayMerge(base, mine, { theme: { colors: { fg: "green", bg: "white" }, font: "serif" } });
  assert.deepEqual(c.conflicts.map((x) => x.path), [["theme", "colors", "fg"]]);
});

test("a field added on both sides as objects merges inside", () => {
  const r = threeWayMerge({}, { seo: { title: "t" } }, { seo: { desc: "d" } });
  assert.deepEqual(r, { merged: { seo: { title: "t", desc: "d" } }, conflicts: [] });
  const c = threeWayMerge({}, { x: 1 }, { x: 2 });
  assert.deepEqual(c.conflicts, [{ path: ["x"], base: undefined, mine: 1, theirs: 2 }]);
});

test("arrays are values: one side's change wins, both sides' changes conflict", () => {
  const base = { tags: ["a", "b"] };
  assert.deepEqual(threeWayMerge(base, { tags: ["a", "b", "c"] }, base).merged, { tags: ["a", "b", "c"] });
  assert.deepEqual(threeWayMerge(base, base, { tags: ["b"] }).merged, { tags: ["b"] });
  const { merged, conflicts } = threeWayMerge(base, { tags: ["a", "b", "c"] }, { tags: ["b"] });
  assert.deepEqual(merged, { tags: ["b"] });
  assert.equal(conflicts.length, 1);
  assert.deepEqual(conflicts[0].mine, ["a", "b", "c"]);
  // Equal arrays (by value, in order) are the same change.
  assert.deepEqual(threeWayMerge(base, { tags: ["x"] }, { tags: ["x"] }).conflicts, []);
  // Arrays of objects are not merged element by element either.
  const b2 = { items: [{ n: 1 }] };
  assert.equal(threeWayMerge(b2, { items: [{ n: 2 }] }, { items: [{ n: 3 }] }).conflicts.length, 1);
});

test("deletes: a delete on one side applies; delete against an edit conflicts", () => {
  const base = { a: 1, b: 2 };
  assert.deepEqual(threeWayMerge(base, { b: 2 }, base).merged, { b: 2 });           // I deleted a
  assert.deepEqual(threeWayMerge(base, base, { a: 1 }).merged, { a: 1 });           // they deleted b
  assert.deepEqual(threeWayMerge(base, { b: 2 }, { b: 2 }), { merged: { b: 2 }, conflicts: [] }); // both
  const { merged, conflicts } = threeWayMerge(base, { b: 2 }, { a: 5, b: 2 });      // I deleted, they edited
  assert.deepEqual(merged, { a: 5, b: 2 });
  assert.deepEqual(conflicts, [{ path: ["a"], base: 1, mine: undefined, theirs: 5 }]);
  assert.deepEqual(applyChoices(merged, conflicts, ["mine"]), { b: 2 });          // the delete wins
  // null is a value, not a delete.
  assert.deepEqual(threeWayMerge(base, { a: null, b: 2 }, base).merged, { a: null, b: 2 });
});

test("type changes: object against a string, number against a string, object against array", () => {
  const base = { v: { x: 1 } };
  let r = threeWayMerge(base, { v: "flat" }, { v: { x: 2 } });
  assert.deepEqual(r.conflicts, [{ path: ["v"], base: { x: 1 }, mine: "flat", theirs: { x: 2 } }]);
  assert.deepEqual(applyChoices(r.merged, r.conflicts, ["mine"]), { v: "flat" });
  r = threeWayMerge({ n: 1 }, { n: "1" }, { n: 2 });
  assert.equal(r.conflicts.length, 1);
  r = threeWayMerge({ v: {} }, { v: [] }, { v: { a: 1 } });
  assert.equal(r.conflicts.length, 1);
  // A type change on one side only just applies.
  assert.deepEqual(threeWayMerge(base, { v: [1] }, base).merged, { v: [1] });
  // The base was not an object: both sides' objects do not merge inside.
  r = threeWayMerge({ v: "s" }, { v: { a: 1 } }, { v: { b: 1 } });
  assert.deepEqual(r.conflicts.map((c) => c.path), [["v"]]);
});

test("whole values at the root", () => {
  assert.deepEqual(threeWayMerge(1, 2, 1), { merged: 2, conflicts: [] });
  const r = threeWayMerge(1, 2, 3);
  assert.deepEqual(r.conflicts[0].path, []);
  assert.equal(applyChoices(r.merged, r.conflicts, ["mine"]), 2);
});

test("applyChoices does not change its inputs", () => {
  const base = { a: { b: 1 } }, mine = { a: { b: 2 } }, theirs = { a: { b: 3 } };
  const { merged, conflicts } = threeWayMerge(base, mine, theirs);
  const out = applyChoices(merged, conflicts, () => "mine");
  out.a.b = 99;
  assert.deepEqual([base, mine, theirs, merged], [{ a: { b: 1 } }, { a: { b: 2 } }, { a: { b: 3 } }, { a: { b: 3 } }]);
});

test("jsonEqual ignores key order and tells arrays from objects", () => {
  assert.ok(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  assert.ok(!jsonEqual({ 0: "x" }, ["x"]));
  assert.ok(!jsonEqual({ a: undefined }, {}));
  assert.ok(!jsonEqual(null, {}));
});

test("keys and ETags", () => {
  const a = newKey(), b = newKey();
  assert.notEqual(a, b);
  assert.match(a, /^[\x21-\x7e]{1,255}$/);
  assert.equal(versionOfEtag('"12"'), 12);
  assert.equal(versionOfEtag('W/"12"'), null);
});

// A fake server for the client: answers from a list, records requests.
function fakeFetch(answers) {
  const seen = [];
  const f = async (url, init) => {
    seen.push({ url, ...init, body: init.body && JSON.parse(init.body) });
    const a = answers.shift();
    const headers = new Headers(a.headers || {});
    if (a.body && a.body.version && !headers.has("ETag")) headers.set("ETag", `"${a.body.version}"`);
    return new Response(a.body ? JSON.stringify(a.body) : null, { status: a.status, headers });
  };
  return { f, seen };
}

test("a save that meets a conflict merges with current and writes on current_version", async () => {
  const current = { version: 3, config: { title: "Shop", tagline: "theirs" } };
  const { f, seen } = fakeFetch([
    { status: 200, body: { version: 2, config: { title: "Shop", tagline: "old" } } },
    { status: 409, body: { error: "version_conflict", message: "stale", current_version: 3, current } },
    { status: 200, body: { version: 4, config: { title: "Mine", tagline: "theirs" } } },
  ]);
  const api = new Client({ token: "t", fetch: f });
  let asked = null;
  const rec = new Record(api, "/v1/storefront/draft", {
    select: (d) => d.config,
    resolve: async (x) => { asked = x; return x.merged; },
  });
  await rec.load();
  const saved = await rec.save({ title: "Mine", tagline: "old" },
    (version, config) => ({ method: "PUT", body: { version, config } }));
  assert.equal(saved.version, 4);
  assert.equal(rec.version, 4);
  assert.deepEqual(asked.base, { title: "Shop", tagline: "old" });
  assert.deepEqual(asked.theirs, { title: "Shop", tagline: "theirs" });
  assert.deepEqual(asked.conflicts, []);
  assert.deepEqual(seen[2].body, { version: 3, config: { title: "Mine", tagline: "theirs" } });
  assert.equal(seen[1].headers.Authorization, "Bearer t");
  const k1 = seen[1].headers["Idempotency-Key"], k2 = seen[2].headers["Idempotency-Key"];
  assert.ok(k1 && k2 && k1 !== k2 && k2.startsWith(k1));
});

test("a 503 is retried after Retry-After with the same Idempotency-Key", async () => {
  const { f, seen } = fakeFetch([
    { status: 503, body: { error: "unavailable", message: "x" }, headers: { "Retry-After": "1" } },
    { status: 200, body: { version: 2 } },
  ]);
  const api = new Client({ fetch: f });
  const t0 = Date.now();
  const r = await api.post("/v1/approvals/1/approve", { version: 1 }, { key: "k1" });
  assert.equal(r.version, 2);
  assert.ok(Date.now() - t0 >= 900);
  assert.equal(seen.length, 2);
  assert.equal(seen[0].headers["Idempotency-Key"], "k1");
  assert.equal(seen[1].headers["Idempotency-Key"], "k1");
});

test("other errors come back as ApiError with the contract's code", async () => {
  const { f } = fakeFetch([{ status: 409, body: { error: "invalid_state", message: "no", status: "executed" } }]);
  const api = new Client({ fetch: f });
  await assert.rejects(api.post("/v1/approvals/1/approve", { version: 1 }),
    (e) => e instanceof ApiError && e.code === "invalid_state" && !e.isConflict && e.body.status === "executed");
});

test("the chat outbox keeps messages through a failure and sends each id once", async () => {
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  const server = [];            // what the "server" appended, by id, once
  let down = true;
  const f = async (url, init) => {
    if (down) throw new TypeError("Failed to fetch");
    for (const m of JSON.parse(init.body).messages) if (!server.some((x) => x.id === m.id)) server.push(m);
    return new Response(JSON.stringify({ appended: 1, duplicates: 0, length: server.length }), { status: 200 });
  };
  const api = new Client({ fetch: f, retries: 0 });
  const out = new ChatOutbox(api, 7, { storage, retryMs: 20 });
  const m1 = out.send("one");
  const m2 = out.send("two");
  await out.flush();
  assert.equal(server.length, 0);
  assert.deepEqual(out.pending.map((m) => m.id), [m1.id, m2.id]);   // kept, with their ids
  down = false;
  await new Promise((r) => setTimeout(r, 100));                    // the retry timer
  await out.flush();
  assert.deepEqual(server.map((m) => m.content), ["one", "two"]);
  assert.deepEqual(out.pending, []);
  clearTimeout(out.timer);
});

test("readEventStream parses events, ids, comments and split chunks", async () => {
  const chunks = ["event: claimed\nid: 1\ndata: {\"version\":2,", "\"evaluation_id\":9}\n\n: ping\n\n",
    "event: progress\r\nid: 2\r\ndata: {\"progress\":{\"step\":1}}\r\n\r\nevent: result\ndata: x\n\n"];
  const body = new ReadableStream({ start(c) { for (const k of chunks) c.enqueue(new TextEncoder().encode(k)); c.close(); } });
  const seen = [];
  await readEventStream(new Response(body), (name, data, id) => seen.push([name, data, id]));
  assert.deepEqual(seen, [
    ["claimed", { version: 2, evaluation_id: 9 }, "1"],
    ["progress", { progress: { step: 1 } }, "2"],
    ["result", "x", null],
  ]);
});

test("stream URLs: a ticket per path, reused; no feeds (404) means null, asked once", async () => {
  const later = new Date(Date.now() + 3600e3).toISOString();
  let { f, seen } = fakeFetch([{ status: 201, body: { ticket: "tk1", expires_at: later } }]);
  let api = new Client({ token: "t", baseUrl: "https://api.example", fetch: f });
  const u1 = await api.streamUrl("/v1/bids/7/events", 3);
  assert.equal(u1, "https://api.example/v1/bids/7/events?ticket=tk1&last_event_id=3");
  assert.deepEqual(seen[0].body, { path: "/v1/bids/7/events" });
  const u2 = await api.streamUrl("/v1/bids/7/events", 5);
  assert.equal(u2, "https://api.example/v1/bids/7/events?ticket=tk1&last_event_id=5");
  assert.equal(seen.length, 1);
  ({ f, seen } = fakeFetch([{ status: 404, body: { error: "not_found", message: "no such route" } }]));
  api = new Client({ fetch: f });
  assert.equal(await api.streamUrl("/v1/bids/7/events"), null);
  assert.equal(await api.openStream("/v1/bids/7/events", ["version"], () => {}), null);
  assert.equal(seen.length, 1);
});
