// approvals.js -- the approvals queue (seed 002): Approve / Reject, each
// decision sent with the version shown and one Idempotency-Key per decision
// of a request, so a double click is one execution; a second tab that lost
// is told who decided, and when.
import { newKey, ApiError } from "./optimist.js";
import { start, $, h, say, time } from "./common.js";

const api = start("approvals.html");
const notice = $("#notice");
const who = $("#who");
who.value = localStorage.getItem("optimist.name") || "";
who.addEventListener("change", () => localStorage.setItem("optimist.name", who.value.trim()));

const items = new Map();   // id -> the approval as this tab last saw it
const keys = new Map();    // "id/approve/version" -> its Idempotency-Key
const busy = new Set();    // ids with a decision in flight

const describe = (a) => a.action.type + (a.action.payload == null ? "" : " " + JSON.stringify(a.action.payload));
const verb = (s) => (s === "executed" ? "approved (executed)" : s);

function outcome(a, mine) {
  const by = a.note ? a.note.replace(/^(approved|rejected) by /i, "") : "someone";
  return mine
    ? `You ${a.status === "executed" ? "approved" : "rejected"} it at ${time(a.decided_at)}; it ran once.`
    : `Already ${verb(a.status)} by ${by} at ${time(a.decided_at)}. Your click changed nothing.`;
}

// What the queue shows now: drawing again only when it changed keeps the
// buttons under a person's pointer (a poll every 1.5 s must not replace
// the Approve button between the two clicks of a double click).
let drawn = "";

function draw() {
  const list = [...items.values()].sort((x, y) => x.id - y.id);
  const shows = JSON.stringify([list, [...busy]]);
  if (shows === drawn) return;
  drawn = shows;
  $("#queue").replaceChildren(...(list.length ? list.map((a) => {
    const pending = a.status === "pending";
    return h("li", { "data-id": a.id, "data-status": a.status },
      h("div", { class: "grow" },
        h("strong", {}, `#${a.id} `), describe(a), h("br"),
        h("span", { class: "meta" }, pending ? `asked at ${time(a.created_at)}` : a.shown || outcome(a, false))),
      pending
        ? [h("button", { class: "primary approve", "aria-label": `Approve #${a.id}`, disabled: busy.has(a.id), onclick: () => decide(a.id, "approve") }, "Approve"),
           h("button", { class: "danger reject", "aria-label": `Reject #${a.id}`, disabled: busy.has(a.id), onclick: () => decide(a.id, "reject") }, "Reject")]
        : h("span", { class: "badge " + (a.status === "executed" ? "ok" : "bad") }, a.status));
  }) : [h("li", { class: "meta" }, "Nothing waiting.")]));
}

async function decide(id, what) {
  const a = items.get(id);
  // The same decision on the same version is the same action: a second
  // click (or a retry) carries the same key and is answered from the first.
  const k = `${id}/${what}/${a.version}`;
  if (!keys.has(k)) keys.set(k, newKey(what));
  busy.add(id);
  draw();
  const name = who.value.trim() || "someone";
  try {
    const r = await api.post(`/v1/approvals/${id}/${what}`,
      { version: a.version, note: `${what === "approve" ? "Approved" : "Rejected"} by ${name}` }, { key: keys.get(k) });
    items.set(id, { ...r.body, shown: outcome(r.body, true) });
    say(notice, `#${id}: ${outcome(r.body, true)}`, "ok");
  } catch (e) {
    if (e instanceof ApiError && e.body.current) {
      const cur = e.body.current;
      if (cur.status === "pending") {           // only the version moved
        items.set(id, cur);
        busy.delete(id);
        return decide(id, what);
      }
      items.set(id, { ...cur, shown: outcome(cur, false) });
      say(notice, `#${id}: ${outcome(cur, false)}`, "warn");
    } else {
      say(notice, `#${id}: not decided (${e.message}). Try again.`, "bad");
    }
  } finally {
    busy.delete(id);
    draw();
  }
}

/* The queue: pending ones from the server; the ones this tab saw that left
 * the queue are shown decided, with who decided. */
async function refresh() {
  try {
    const r = await api.get("/v1/approvals?status=pending&limit=500");
    const pending = new Set(r.body.items.map((a) => a.id));
    for (const a of r.body.items) if (!busy.has(a.id)) items.set(a.id, a);
    for (const [id, a] of items) {
      if (a.status === "pending" && !pending.has(id) && !busy.has(id)) {
        const g = await api.get(`/v1/approvals/${id}`);
        items.set(id, g.body);
      }
    }
    draw();
  } catch { /* next time */ }
}

$("#new").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api.post("/v1/approvals", { action: { type: $("#new-type").value.trim() } }, { key: newKey("ask") });
  items.set(r.body.id, r.body);
  $("#new-type").value = "";
  draw();
});

if (api) {
  await refresh();
  if (new URLSearchParams(location.search).get("follow") !== "0") {
    $("#mode").textContent = "The queue is checked every 1.5 s.";
    setInterval(refresh, 1500);
  }
  document.body.dataset.ready = "poll";
}
