// session.js -- an agent session (seed 000): its messages and a send box.
// A send is versioned: a tab that has not seen the latest message gets the
// 409, shows what the other tab added, and sends its message again on top.
import { Record, newKey, ApiError } from "./optimist.js";
import { start, $, h, say, time, idParam, setIdParam } from "./common.js";

const api = start("session.html");
const notice = $("#notice");
let id = idParam(), rec, shown = 0;

function draw(s, fresh = 0) {
  $("#title").textContent = `Agent session #${s.id}` + (s.title ? `: ${s.title}` : "");
  $("#state").textContent = `Version ${s.version}, ${s.messages.length} message${s.messages.length === 1 ? "" : "s"}`;
  $("#msgs").replaceChildren(...s.messages.map((m, i) => h("li", { class: m.role + (i >= s.messages.length - fresh ? " new" : "") },
    h("div", { class: "who" }, `${m.role} · ${time(m.at)}`), h("div", {}, m.content))));
  shown = s.messages.length;
}

async function send(message) {
  const key = newKey("msg");   // one action; a conflict re-send is key.N
  let version = rec.version;
  for (let round = 0; round < 10; round++) {
    try {
      const r = await api.post(`/v1/sessions/${id}/messages`, { version, message },
        { key: round ? `${key}.${round}` : key });
      rec._take(r.body, r.version);
      draw(r.body);
      return true;
    } catch (e) {
      if (!(e instanceof ApiError) || !e.isConflict) throw e;
      const cur = e.body.current;
      const added = cur.messages.slice(shown);
      draw(cur, added.length);
      rec._take(cur, e.body.current_version);
      say(notice, `Another tab added ${added.length} message${added.length === 1 ? "" : "s"} while you wrote ` +
        `(${added.map((m) => `“${m.content}”`).join(", ")}). Yours was sent after ${added.length === 1 ? "it" : "them"}.`, "info");
      version = e.body.current_version;
    }
  }
  throw new Error("gave up after 10 conflicts in a row");
}

$("#send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const content = $("#text").value.trim();
  if (!content) return;
  $("#send-btn").disabled = true;
  try {
    await send({ role: $("#role").value, content });
    $("#text").value = "";
  } catch (err) {
    say(notice, `Not sent: ${err.message}. Your text is still in the box.`, "bad");
  } finally {
    $("#send-btn").disabled = false;
    $("#text").focus();
  }
});
$("#text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#send").requestSubmit();
});

if (api) {
  try {
    if (!id) {
      const r = await api.post("/v1/sessions", { title: "Demo" }, { key: newKey("session") });
      id = r.body.id;
      setIdParam(id);
    }
    rec = new Record(api, `/v1/sessions/${id}`, {
      onRemote: (s) => {
        if (!s) { say(notice, "This session was deleted in another tab.", "warn"); $("#send-btn").disabled = true; return; }
        draw(s, s.messages.length - shown);
      },
    });
    draw(await rec.load());
    const mode = new URLSearchParams(location.search).get("follow") === "0" ? "off" : await rec.follow();
    $("#mode").textContent = { sse: "live updates", poll: "checking for new messages every 1.5 s", off: "not following other tabs" }[mode];
    document.body.dataset.ready = mode;
  } catch (e) {
    say(notice, `Could not load the session: ${e.message}`, "bad");
  }
}
