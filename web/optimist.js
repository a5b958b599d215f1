// optimist.js -- the browser side of optimist's HTTP API, as one
// dependency-free ES module (no build step: serve it as a static file).
//
//   import { Client, Record, threeWayMerge } from "/optimist.js";
//   const api = new Client({ token });             // baseUrl: "" = same origin
//   const draft = new Record(api, "/v1/storefront/draft", {
//     resolve: async ({ base, mine, theirs }) => ...,  // on 409/412
//     onRemote: (state) => ...,                       // another tab saved
//   });
//   await draft.load();
//   await draft.save((version, mine) => ({ method: "PUT", body: { version, config: mine } }));
//
// What it does for a page:
// - keeps each record's version and ETag and sends the version on every write;
// - gives every user action one Idempotency-Key (a retry or a double click of
//   the same action is answered from the server's stored answer, no second
//   effect);
// - retries 503 after its Retry-After, a network failure of a keyed write, and
//   409 idempotency_key_in_use (the same action still being answered);
// - on 409 version_conflict / 412 precondition_failed calls a resolver with
//   base (what this tab loaded), mine (this tab's edits) and theirs (the
//   `current` of the 409: no extra round trip), then writes the resolved
//   value on top of `current_version`;
// - follows a record live: an EventSource on the record's feed, opened with a
//   stream ticket (EventSource cannot send Authorization) and resumed with
//   ?last_event_id=; where the server has no feeds (POST /v1/stream-tickets
//   answers 404) it polls GET with If-None-Match instead.

/** An error answer of the API: status, code ("version_conflict", ...), body. */
export class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.message) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = (body && body.error) || `http_${status}`;
    this.body = body || {};
    this.headers = headers;
  }
  /** A stale version: the body carries current_version and current. */
  get isConflict() {
    return (this.status === 409 && this.code === "version_conflict") ||
      (this.status === 412 && this.code === "precondition_failed");
  }
}

/** A random key for one user action (crypto.getRandomValues works on plain
 * http origins too, where crypto.randomUUID does not). */
export function newKey(prefix = "ui") {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return prefix + "-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
});

/** The version an ETag names ('"7"' -> 7), or null. */
export function versionOfEtag(etag) {
  const m = /^"(\d+)"$/.exec(etag || "");
  return m ? Number(m[1]) : null;
}

/**
 * The HTTP client: a token, a base URL, retries.
 *   new Client({ token, baseUrl = "", retries = 4, fetch })
 */
export class Client {
  constructor({ token, baseUrl = "", retries = 4, fetch: f } = {}) {
    this.token = token;
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.retries = retries;
    this.fetch = f || globalThis.fetch.bind(globalThis);
    this.feeds = undefined; // true/false once POST /v1/stream-tickets answered
  }

  /**
   * One API call. opts: body (sent as JSON), headers, key (Idempotency-Key),
   * signal. Returns { status, body, etag, version, headers } for 2xx and 304;
   * throws ApiError for the rest. A 503 is retried after Retry-After, and a
   * network failure is retried when the call is a GET or carries a key.
   */
  async request(method, path, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    if (this.token) headers.Authorization = "Bearer " + this.token;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.key) headers["Idempotency-Key"] = opts.key;
    const init = {
      method, headers, signal: opts.signal, cache: "no-store",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    };
    const safe = method === "GET" || !!opts.key;
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.fetch(this.baseUrl + path, init);
      } catch (e) {
        if (e.name === "AbortError" || !safe || attempt >= this.retries) throw e;
        await sleep(Math.min(250 * 2 ** attempt, 4000), opts.signal);
        continue;
      }
      if (res.status === 503 && attempt < this.retries) {
        const after = Number(res.headers.get("Retry-After"));
        await sleep((after > 0 ? Math.min(after, 30) : 1) * 1000, opts.signal);
        continue;
      }
      const text = res.status === 204 || res.status === 304 ? "" : await res.text();
      let body = null;
      if (text) { try { body = JSON.parse(text); } catch { body = { message: text }; } }
      if (res.status === 409 && body && body.error === "idempotency_key_in_use" && attempt < this.retries) {
        // The same action is still being answered (a double click): its
        // stored answer is ours once it is done.
        await sleep(200 * (attempt + 1), opts.signal);
        continue;
      }
      const etag = res.headers.get("ETag");
      if (res.ok || res.status === 304) {
        return { status: res.status, body, etag, version: versionOfEtag(etag), headers: res.headers };
      }
      throw new ApiError(res.status, body, res.headers);
    }
  }

  get(path, opts) { return this.request("GET", path, opts); }
  post(path, body, opts = {}) { return this.request("POST", path, { ...opts, body }); }
  put(path, body, opts = {}) { return this.request("PUT", path, { ...opts, body }); }
  patch(path, body, opts = {}) { return this.request("PATCH", path, { ...opts, body }); }
  delete(path, body, opts = {}) { return this.request("DELETE", path, { ...opts, body }); }

  /**
   * An EventSource URL for a stream path (a ticket from POST
   * /v1/stream-tickets), or null when the server has no feeds (404). A
   * ticket is good for its path for an hour: reconnections reuse it until
   * 5 minutes before it expires, or until fresh asks for a new one.
   */
  async streamUrl(path, lastEventId, fresh = false) {
    if (this.feeds === false) return null;
    this.tickets = this.tickets || new Map();
    let t = this.tickets.get(path);
    if (fresh || !t || !(Date.parse(t.expires_at) - Date.now() >= 300000)) {
      try {
        t = (await this.post("/v1/stream-tickets", { path })).body;
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
          this.feeds = false;
          return null;
        }
        throw e;
      }
      this.tickets.set(path, t);
    }
    this.feeds = true;
    const q = new URLSearchParams({ ticket: t.ticket });
    if (lastEventId != null) q.set("last_event_id", String(lastEventId));
    return `${this.baseUrl}${path}?${q}`;
  }

  /**
   * Follows a stream path: calls on(event, data, id) for each event. With
   * feeds: an EventSource, reopened (with a fresh ticket and the last id
   * seen) after an error. Without: null is returned at once and the caller
   * polls. events: the event names to listen to. Returns { close() } or null.
   */
  async openStream(path, events, on, lastEventId) {
    let last = lastEventId, es = null, closed = false, failures = 0;
    const open = async () => {
      if (closed) return false;
      let url;
      // After two failures in a row the ticket itself may be the trouble.
      try { url = await this.streamUrl(path, last, failures >= 2); } catch { url = undefined; }
      if (url === null) return false;
      if (url === undefined) { setTimeout(open, 2000); return true; }
      es = new EventSource(url);
      for (const name of events) {
        es.addEventListener(name, (ev) => {
          failures = 0;
          if (ev.lastEventId) last = ev.lastEventId;
          let data = ev.data;
          try { data = JSON.parse(ev.data); } catch { /* text */ }
          on(name, data, ev.lastEventId);
        });
      }
      es.onerror = () => {
        // Reopen ourselves: the URL must carry the newest id, not the first.
        es.close();
        if (closed) return;
        failures++;
        setTimeout(open, Math.min(500 * failures, 5000));
      };
      return true;
    };
    if (!(await open())) return null;
    return { close() { closed = true; if (es) es.close(); }, mode: "sse" };
  }
}

/* ---- three-way merge ------------------------------------------------------ */

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Deep equality of JSON values (undefined = absent). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/**
 * Three-way merge of JSON values. base: what both sides started from; mine
 * and theirs: the two edited values. Objects merge field by field, nested
 * objects recursively; any other value (string, number, array, null) is
 * replaced whole. A field changed on one side takes that side's value (a
 * delete is a change); changed on both sides to the same value, that value;
 * to different values, a conflict.
 *
 * Returns { merged, conflicts }: merged holds theirs where they conflict;
 * conflicts is [{ path: ["a", "b"], base, mine, theirs }] (undefined = the
 * field is absent on that side). Apply a person's choices with
 * applyChoices(merged, conflicts, choices).
 */
export function threeWayMerge(base, mine, theirs) {
  const conflicts = [];
  const merged = mergeValue(base, mine, theirs, [], conflicts);
  return { merged, conflicts };
}

function mergeValue(base, mine, theirs, path, conflicts) {
  if (jsonEqual(mine, theirs)) return mine;
  if (jsonEqual(mine, base)) return theirs;
  if (jsonEqual(theirs, base)) return mine;
  // Both changed it, differently. Objects on both sides (and an object or
  // nothing before) merge by field; anything else is the person's call.
  if (isObject(mine) && isObject(theirs) && (base === undefined || isObject(base))) {
    const b = base || {};
    const out = {};
    const keys = new Set([...Object.keys(b), ...Object.keys(theirs), ...Object.keys(mine)]);
    for (const k of keys) {
      const v = mergeValue(b[k], mine[k], theirs[k], path.concat(k), conflicts);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
  conflicts.push({ path, base, mine, theirs });
  return theirs;
}

/**
 * merged with each conflict settled: choices[i] is "mine" or "theirs" (or a
 * function(conflict) returning "mine"/"theirs") for conflicts[i].
 */
export function applyChoices(merged, conflicts, choices) {
  let out = structuredClone(merged === undefined ? null : merged);
  conflicts.forEach((c, i) => {
    const pick = typeof choices === "function" ? choices(c, i) : choices[i];
    const value = pick === "mine" ? c.mine : c.theirs;
    if (c.path.length === 0) { out = value === undefined ? null : structuredClone(value); return; }
    let o = out;
    for (const k of c.path.slice(0, -1)) {
      if (!isObject(o[k])) o[k] = {};
      o = o[k];
    }
    const last = c.path[c.path.length - 1];
    if (value === undefined) delete o[last];
    else o[last] = structuredClone(value);
  });
  return out;
}

/* ---- a record that a page edits ------------------------------------------ */

/**
 * One versioned record: what this tab last loaded (base, version, etag), its
 * saves with conflict handling, and live updates.
 *
 *   new Record(client, path, {
 *     select: (resource) => value,     // the part the page edits (default: all)
 *     feed: path + "/events",          // its record feed
 *     resolve: async ({ base, mine, theirs, merged, conflicts, current }) =>
 *                 value | null,        // null: give up this save
 *     onRemote: (resource, { dirty }) => {},  // another tab's save arrived
 *     pollMs: 1500,
 *   })
 */
export class Record {
  constructor(client, path, opts = {}) {
    this.client = client;
    this.path = path;
    this.select = opts.select || ((x) => x);
    this.feed = opts.feed === undefined ? path + "/events" : opts.feed;
    this.resolve = opts.resolve || (async ({ merged, conflicts }) =>
      conflicts.length ? null : merged);
    this.onRemote = opts.onRemote || (() => {});
    this.pollMs = opts.pollMs || 1500;
    this.resource = null; // the whole resource as GET answers it
    this.version = null;
    this.etag = null;
    this.dirty = () => false; // the page says whether it holds unsaved edits
    this.follower = null;
  }

  /** The editable part of what this tab last loaded. */
  get base() { return this.resource == null ? undefined : structuredClone(this.select(this.resource)); }

  _take(resource, version) {
    this.resource = resource;
    this.version = version != null ? version : resource.version;
    this.etag = `"${this.version}"`;
  }

  async load() {
    const r = await this.client.get(this.path);
    this._take(r.body, r.version);
    return r.body;
  }

  /**
   * Saves this tab's value. write(version, value) -> { method, path?, body }
   * builds the request; value starts as mine. One Idempotency-Key covers the
   * action (retries of the same request reuse it; a re-send after a conflict
   * is another request and gets key.N). On a conflict the resolver decides
   * the value to send on top of current_version; it returns null to stop.
   * Returns the saved resource, or null when the resolver stopped.
   * set(resource) takes the answer (default: the answer is the record).
   */
  async save(mine, write, { key = newKey("save"), take } = {}) {
    this.saving = true;
    try { return await this._save(mine, write, key, take); } finally {
      this.saving = false;
      const r = this.held;
      this.held = null;
      if (r && this.arrived) this.arrived(r);
    }
  }

  async _save(mine, write, key, take) {
    let base = this.base, value = mine, version = this.version;
    for (let round = 0; round < 10; round++) {
      const req = write(version, value);
      try {
        const r = await this.client.request(req.method, req.path || this.path,
          { body: req.body, key: round ? `${key}.${round}` : key });
        const rec = take ? take(r.body) : r.body;
        if (rec) this._take(rec, take ? null : r.version);
        return rec;
      } catch (e) {
        if (!(e instanceof ApiError) || !e.isConflict || !e.body.current) throw e;
        const current = e.body.current;
        const theirs = structuredClone(this.select(current));
        const { merged, conflicts } = threeWayMerge(base, value, theirs);
        const next = await this.resolve({ base, mine: value, theirs, merged, conflicts, current });
        this._take(current, e.body.current_version);
        if (next == null) return null;
        base = theirs;
        value = next;
        version = e.body.current_version;
      }
    }
    throw new Error("gave up after 10 conflicts in a row");
  }

  /**
   * Follows the record: the feed when the server has one, else GET with
   * If-None-Match every pollMs. Each newer version goes to onRemote (the page
   * decides: follow silently when not dirty, warn when dirty). The record's
   * base moves only when the page is not dirty (a dirty tab keeps its base
   * for the three-way merge at save time).
   */
  async follow() {
    this.stop();
    const arrived = this.arrived = (res) => {
      // A save of this tab in flight: what arrives meanwhile waits for its
      // answer (which may already include it).
      if (res != null && this.saving) { this.held = res; return; }
      if (res == null || res.version <= (this.version || 0)) return;
      const dirty = this.dirty();
      if (!dirty) this._take(res);
      this.onRemote(res, { dirty });
    };
    let s = null;
    if (this.feed) {
      try {
        s = await this.client.openStream(this.feed, ["version", "deleted"],
          (name, data) => {
            if (name === "version") arrived(data);
            else { this.stop(); this.onRemote(null, { deleted: true }); }   // the stream ends
          }, this.version);
      } catch { s = null; }
    }
    if (s) { this.follower = s; return "sse"; }
    let stopped = false, seen = this.version;
    const tick = async () => {
      if (stopped) return;
      try {
        const r = await this.client.get(this.path, { headers: { "If-None-Match": `"${seen}"` } });
        if (r.status === 200 && r.body) { seen = r.body.version; arrived(r.body); }
      } catch { /* offline for a moment: next tick */ }
      if (!stopped) timer = setTimeout(tick, this.pollMs);
    };
    let timer = setTimeout(tick, this.pollMs);
    this.follower = { close() { stopped = true; clearTimeout(timer); }, mode: "poll" };
    return "poll";
  }

  stop() { if (this.follower) this.follower.close(); this.follower = null; }
}

/* ---- evaluations ------------------------------------------------------------ */

/** Reads a fetch Response as Server-Sent Events: on(event, data, id). */
export async function readEventStream(res, on) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "", ev = { event: "message", data: [], id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === "\r" ? 2 : 1));
      if (line === "") {
        if (ev.data.length) {
          const text = ev.data.join("\n");
          let data = text;
          try { data = JSON.parse(text); } catch { /* text */ }
          on(ev.event, data, ev.id);
        }
        ev = { event: "message", data: [], id: null };
      } else if (line[0] !== ":") {
        const c = line.indexOf(":");
        const name = c < 0 ? line : line.slice(0, c);
        const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
        if (name === "data") ev.data.push(v);
        else if (name === "event") ev.event = v;
        else if (name === "id") ev.id = v;
      }
    }
  }
}

/**
 * Starts an evaluation of a bid and reports it as it happens:
 * on("claimed" | "progress" | "result" | "conflict" | "error", data, id).
 * Throws ApiError when the claim is refused (409 with current, 503, ...).
 */
export async function evaluate(client, bidId, version, { kind = "full", on, signal } = {}) {
  const headers = { Accept: "text/event-stream", "Content-Type": "application/json" };
  if (client.token) headers.Authorization = "Bearer " + client.token;
  for (let attempt = 0; ; attempt++) {
    const res = await client.fetch(`${client.baseUrl}/v1/bids/${bidId}/evaluate`, {
      method: "POST", headers, body: JSON.stringify({ version, kind }), signal, cache: "no-store",
    });
    if (res.status === 503 && attempt < client.retries) {
      await sleep((Number(res.headers.get("Retry-After")) || 1) * 1000, signal);
      continue;
    }
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch { /* none */ }
      throw new ApiError(res.status, body, res.headers);
    }
    await readEventStream(res, on);
    return;
  }
}

/**
 * Follows a run that is already going (after a reload of the page): its
 * event feed replays what happened and follows it live; without feeds the
 * bid's evaluations are polled until the run ends. on(event, data): the
 * events of evaluate(), or "polling" while only the outcome can be known.
 * Returns { close() }.
 */
export async function followEvaluation(client, bidId, evaluationId, on, { pollMs = 1000 } = {}) {
  let ended = false;
  const s = await client.openStream(`/v1/evaluations/${evaluationId}/events`,
    ["claimed", "progress", "result", "conflict", "error"], (name, data, id) => {
      if (ended) return;
      if (name === "result" || name === "conflict" || name === "error") { ended = true; s && s.close(); }
      on(name, data, id);
    });
  if (s) return s;
  let stopped = false, timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      const r = await client.get(`/v1/bids/${bidId}/evaluations`);
      const run = (r.body.items || []).find((x) => x.id === evaluationId);
      if (run && run.outcome !== "running") {
        stopped = true;
        const bid = (await client.get(`/v1/bids/${bidId}`)).body;
        if (run.outcome === "applied") on("result", { version: bid.version, evaluation: run.result });
        else if (run.outcome === "superseded") on("conflict", { current_version: bid.version, evaluation_id: run.id, result: run.result });
        else on("error", { error: run.outcome === "expired" ? "lease_expired" : "evaluation_failed", run });
        return;
      }
      on("polling", run || null);
    } catch { /* try again */ }
    if (!stopped) timer = setTimeout(tick, pollMs);
  };
  tick();
  return { close() { stopped = true; clearTimeout(timer); }, mode: "poll" };
}

/* ---- a chat that queues while offline ------------------------------------- */

/**
 * The messages a tab sends to a report's chat, kept in localStorage until the
 * server has them. Each message gets its id when it is written, so a re-send
 * (after a lost answer, a reload, coming back online) is appended once.
 *
 *   const out = new ChatOutbox(client, reportId, { onChange });
 *   out.send("hello");           // queued at once, sent when it can be
 *   out.pending                  // what the server does not have yet
 */
export class ChatOutbox {
  constructor(client, reportId, { onChange = () => {}, storage = globalThis.localStorage, retryMs = 2000 } = {}) {
    this.client = client;
    this.reportId = reportId;
    this.onChange = onChange;
    this.storage = storage;
    this.key = `optimist.chat-outbox.${reportId}`;
    this.retryMs = retryMs;
    this.flushing = null;
    this.timer = null;
    globalThis.addEventListener?.("online", () => this.flush());
  }

  get pending() {
    try { return JSON.parse(this.storage.getItem(this.key)) || []; } catch { return []; }
  }
  set pending(list) { this.storage.setItem(this.key, JSON.stringify(list)); }

  /** Queues a message (role "user") and tries to send the queue. */
  send(content, role = "user") {
    const msg = { id: newKey("m").slice(0, 40), role, content };
    this.pending = this.pending.concat(msg);
    this.onChange();
    this.flush();
    return msg;
  }

  /** Sends what is queued, in order, at most 100 a call; retried later on failure. */
  flush() {
    if (this.flushing) return this.flushing;
    const p = this._flush().finally(() => { if (this.flushing === p) this.flushing = null; });
    this.flushing = p;
    return p;
  }

  async _flush() {
    try {
      while (this.pending.length) {
        const batch = this.pending.slice(0, 100);
        await this.client.post(`/v1/reports/${this.reportId}/chat`, { messages: batch },
          { key: newKey("chat") });
        const sent = new Set(batch.map((m) => m.id));
        this.pending = this.pending.filter((m) => !sent.has(m.id));
        this.onChange();
      }
    } catch {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.flush(), this.retryMs);
    }
  }
}
