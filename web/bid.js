// bid.js -- a bid (seed 003): edit it, start an evaluation and watch it as
// it runs, pick it up again after a reload of the page, and see why a run
// whose bid was edited meanwhile is "superseded" rather than applied.
import { Record, applyChoices, jsonEqual, newKey, ApiError, evaluate, followEvaluation } from "./optimist.js";
import { start, $, h, say, time, idParam, setIdParam, askConflict } from "./common.js";

const api = start("bid.html");
const FIELDS = ["title", "amount", "notes"];
const form = $("#bid");
const notice = $("#notice");
const outcomeBox = $("#eval-outcome");
let id = idParam();
let following = null;
const runKey = () => `optimist.bid-run.${id}`;

const display = (v) => v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
function formData(base = rec.base || {}) {
  const d = structuredClone(base);
  for (const f of FIELDS) {
    const v = form.elements[f].value;
    if (v === display(base[f])) continue;
    d[f] = f === "amount" && v.trim() !== "" && !isNaN(Number(v)) ? Number(v) : v;
  }
  return d;
}
function fillForm(d) {
  for (const f of FIELDS) if (form.elements[f].value !== display(d[f])) form.elements[f].value = display(d[f]);
}

let rec;
function showBid() {
  const b = rec.resource;
  $("#title").textContent = b.data.title ? `Bid #${b.id}: ${b.data.title}` : `Bid #${b.id}`;
  $("#status").textContent = b.status;
  $("#status").className = "badge " + ({ decided: "ok", evaluating: "warn", archived: "bad" }[b.status] || "");
  $("#state").textContent = `Version ${b.version}, updated ${time(b.updated_at)}`;
  $("#evaluate").disabled = b.status === "evaluating" || b.status === "archived";
}

/** A merge patch from base to value (a removed field is null). */
function patchOf(base, value) {
  const p = {};
  for (const k of new Set([...Object.keys(base), ...Object.keys(value)])) {
    if (!(k in value)) p[k] = null;
    else if (!jsonEqual(base[k], value[k])) p[k] = value[k];
  }
  return p;
}

async function save() {
  const mine = formData();
  if (jsonEqual(mine, rec.base)) return;
  $("#saved").textContent = "Saving…";
  try {
    await rec.save(mine, (version, data) => ({ method: "PATCH", body: { version, data: patchOf(rec.base, data) } }));
    fillForm(rec.base);
    $("#saved").textContent = `Saved as version ${rec.version}.`;
    showBid();
  } catch (e) {
    $("#saved").textContent = "";
    say(notice, `Not saved: ${e.message}`, "bad");
  }
}

async function resolve({ merged, conflicts, current }) {
  if (!conflicts.length) {
    say(notice, `Version ${current.version} came in meanwhile (another tab, or an evaluation); it touched other fields, so both are kept.`, "info");
    return merged;
  }
  const picks = await askConflict({ conflicts, theirsVersion: current.version, label: (p) => p.join(".") });
  return applyChoices(merged, conflicts, picks);
}

/* ---- the evaluation, as it runs ---- */

function progressEvent(name, data) {
  const p = $("#progress");
  document.body.dataset.eval = name;
  if (name === "claimed") {
    localStorage.setItem(runKey(), String(data.evaluation_id));
    $("#eval-status").textContent = `Evaluating (run #${data.evaluation_id})…`;
    say(outcomeBox, "");
    rec.load().then(showBid).catch(() => {});
    runs();
  } else if (name === "progress") {
    const s = data.progress || {};
    if (s.of) { p.max = s.of; p.value = s.step; }
    $("#eval-status").textContent = s.of ? `Evaluating: step ${s.step} of ${s.of}` : `Evaluating: ${JSON.stringify(data)}`;
  } else if (name === "polling") {
    p.removeAttribute("value");   // indeterminate: the steps are not known
    $("#eval-status").textContent = `Evaluating (run #${data ? data.id : "?"}, started ${data ? time(data.started_at) : ""}). ` +
      "This page was reloaded: the outcome shows here as soon as the run ends.";
  } else {
    localStorage.removeItem(runKey());
    p.max = 1; p.value = 1;
    if (name === "result") {
      $("#eval-status").textContent = "Evaluation done.";
      say(outcomeBox, `Decided: score ${data.evaluation && data.evaluation.score} (version ${data.version}).`, "ok");
    } else if (name === "conflict") {
      $("#eval-status").textContent = "Evaluation done, not applied.";
      say(outcomeBox, `Superseded: the bid was edited while this run was going (it is now version ${data.current_version}). ` +
        "The run scored the data as it was before the edit, so its result is kept in the list of runs but not applied: " +
        "an evaluation never overwrites your edit. The bid is open again; evaluate it again to score the edited bid.", "warn");
    } else {
      $("#eval-status").textContent = "Evaluation failed.";
      say(outcomeBox, `The evaluation did not finish: ${data.message || data.error || JSON.stringify(data)}. The bid can be evaluated again.`, "bad");
    }
    rec.load().then(() => { fillForm(rec.base); showBid(); }).catch(() => {});
    runs();
  }
}

async function startEvaluation() {
  if (rec.dirty()) await save();
  $("#evaluate").disabled = true;
  try {
    await evaluate(api, id, rec.version, { kind: $("#kind").value, on: progressEvent });
  } catch (e) {
    if (e instanceof ApiError && e.status === 409 && e.body.lease) {
      say(notice, `An evaluation is already running (lease until ${time(e.body.lease.until)}); following it.`, "info");
      await resume();
    } else if (e instanceof ApiError && e.isConflict) {
      rec._take(e.body.current, e.body.current_version);
      fillForm(rec.base);
      showBid();
      say(notice, `Not started: the bid changed (now version ${e.body.current_version}). Look it over and evaluate again.`, "warn");
    } else if (e.name !== "AbortError") {
      say(notice, `Could not evaluate: ${e.message}`, "bad");
    }
  } finally {
    showBid();
  }
}

/** After a reload: the run this bid has going, if any, followed to its end. */
async function resume() {
  const r = await api.get(`/v1/bids/${id}/evaluations`);
  const run = r.body.items.find((x) => x.outcome === "running");
  if (!run) return false;
  $("#eval-status").textContent = `Evaluating (run #${run.id})…`;
  document.body.dataset.eval = "resumed";
  if (following) following.close();
  following = await followEvaluation(api, id, run.id, progressEvent);
  return true;
}

async function runs() {
  try {
    const r = await api.get(`/v1/bids/${id}/evaluations`);
    $("#runs").replaceChildren(...(r.body.items.length ? r.body.items.slice(0, 10).map((x) => h("li", { "data-outcome": x.outcome },
      h("span", { class: "grow" }, `Run #${x.id} · ${x.kind} · started ${time(x.started_at)}`),
      x.result && x.result.score != null ? h("span", {}, `score ${x.result.score}`) : null,
      h("span", { class: "badge " + ({ applied: "ok", superseded: "warn", failed: "bad", expired: "bad" }[x.outcome] || "") }, x.outcome)))
      : [h("li", { class: "meta" }, "No runs yet.")]));
  } catch { /* later */ }
}

form.addEventListener("submit", (e) => { e.preventDefault(); save(); });
$("#evaluate").addEventListener("click", startEvaluation);

if (api) {
  try {
    if (!id) {
      const r = await api.post("/v1/bids", { data: { title: "New bid", amount: 1000 } }, { key: newKey("bid") });
      id = r.body.id;
      setIdParam(id);
    }
    rec = new Record(api, `/v1/bids/${id}`, {
      select: (b) => b.data, resolve,
      onRemote: (b, { dirty }) => {
        if (!dirty) fillForm(b.data);
        else say(notice, `The bid changed elsewhere (version ${b.version}) while you were editing; your edits merge with it when you save.`, "warn");
        showBid();
      },
    });
    rec.dirty = () => !jsonEqual(formData(), rec.base);
    await rec.load();
    fillForm(rec.base);
    showBid();
    await runs();
    if (rec.resource.status === "evaluating") await resume();
    const mode = await rec.follow();
    $("#mode").textContent = mode === "sse" ? "live updates" : "checking for changes every 1.5 s";
    document.body.dataset.ready = mode;
  } catch (e) {
    say(notice, `Could not load the bid: ${e.message}`, "bad");
  }
}
