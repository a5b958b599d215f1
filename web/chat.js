// chat.js -- a report's chat (seed 004): messages written while offline are
// kept (localStorage) with their ids and appended once when the network is
// back; the chat follows other tabs' messages.
import { ChatOutbox, newKey } from "./optimist.js";
import { start, $, h, say, time, idParam, setIdParam } from "./common.js";

const api = start("chat.html");
const net = $("#net");
let id = idParam(), length = 0;
const seen = new Set();
let outbox;

function msgItem(m, queued) {
  return h("li", { class: (m.role || "user") + (queued ? " queued" : ""), "data-id": m.id },
    h("div", { class: "who" }, queued ? `${m.role} · not sent yet · ` : `${m.role} · ${time(m.at)} · `,
      h("span", { class: "mono" }, m.id)),
    h("div", {}, m.content));
}

function append(messages) {
  const fresh = messages.filter((m) => !seen.has(m.id));
  fresh.forEach((m) => seen.add(m.id));
  $("#msgs").append(...fresh.map((m) => msgItem(m, false)));
  drawQueue();
}

function drawQueue() {
  const q = outbox ? outbox.pending.filter((m) => !seen.has(m.id)) : [];
  $("#queued").replaceChildren(...q.map((m) => msgItem(m, true)));
  $("#count").textContent = `${length} message${length === 1 ? "" : "s"}` + (q.length ? `, ${q.length} waiting to be sent` : "");
  if (!navigator.onLine) say(net, `You are offline. ${q.length} message(s) are kept in this browser and will be sent once, when you are back.`, "warn");
  else if (q.length) say(net, `Sending ${q.length} message(s)…`, "info");
  else say(net, "");
}

async function pull() {
  const r = await api.get(`/v1/reports/${id}/chat?after=${length}&limit=1000`);
  length = r.body.length;
  append(r.body.messages);
}

async function follow() {
  const s = await api.openStream(`/v1/reports/${id}/chat/events`, ["chat"], (name, data) => {
    length = Math.max(length, data.length);
    append(data.messages);
  }, length);
  if (s) return "sse";
  const tick = async () => {
    try { await pull(); } catch { /* offline: later */ }
    setTimeout(tick, 1500);
  };
  setTimeout(tick, 1500);
  return "poll";
}

$("#send").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#text").value.trim();
  if (!text) return;
  outbox.send(text);
  $("#text").value = "";
  $("#text").focus();
});
$("#text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#send").requestSubmit();
});
addEventListener("online", drawQueue);
addEventListener("offline", drawQueue);

if (api) {
  try {
    if (!id) {
      const r = await api.post("/v1/reports", { title: "Chat" }, { key: newKey("report") });
      id = r.body.id;
      setIdParam(id);
    }
    const rep = await api.get(`/v1/reports/${id}`);
    $("#title").textContent = `Report chat: ${rep.body.title || "#" + id}`;
    outbox = new ChatOutbox(api, id, { onChange: () => { pull().catch(() => {}); drawQueue(); } });
    await pull();
    outbox.flush();
    const mode = await follow();
    $("#mode").textContent = mode === "sse" ? "live" : "checking for new messages every 1.5 s";
    document.body.dataset.ready = mode;
  } catch (e) {
    say(net, `Could not load the chat: ${e.message}`, "bad");
  }
}
