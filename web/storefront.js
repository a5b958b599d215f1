// storefront.js -- the storefront draft editor (seed 001): a form over the
// draft's config with debounced autosave, another tab's saves followed live,
// conflicts merged field by field (the dialog when both sides changed the
// same field), publish, discard, and the version history with restore.
import { Record, applyChoices, jsonEqual, newKey, ApiError } from "./optimist.js";
import { start, $, h, say, time, askConflict } from "./common.js";

const api = start("storefront.html");
const FIELDS = ["name", "tagline", "currency", "accent", "announcement"];
const LABELS = { name: "Shop name", tagline: "Tagline", currency: "Currency", accent: "Accent colour", announcement: "Announcement banner" };
const AUTOSAVE_MS = Number(new URLSearchParams(location.search).get("autosave_ms")) || 800;

const form = $("#draft");
const notice = $("#notice");
const savedEl = $("#saved");
const display = (v) => v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);

const rec = new Record(api, "/v1/storefront/draft", {
  select: (d) => d.config,
  resolve,
  onRemote,
});
rec.dirty = () => !jsonEqual(formConfig(), rec.base);

/** The config the form shows: the base with the form's fields over it (a
 * field left as the base shows it keeps the base's value, absent included). */
function formConfig(base = rec.base || {}) {
  const c = structuredClone(base);
  for (const f of FIELDS) {
    const v = form.elements[f].value;
    if (v !== display(base[f])) c[f] = v;
  }
  return c;
}

function fillForm(config) {
  for (const f of FIELDS) {
    const v = display(config[f]);
    if (form.elements[f].value !== v) form.elements[f].value = v;
  }
}

function showState() {
  const d = rec.resource;
  $("#state").textContent = `Version ${d.version}, saved ${time(d.updated_at)}`;
}

async function resolve({ merged, conflicts, current }) {
  if (!conflicts.length) {
    say(notice, `Another tab saved version ${current.version}. Its changes and yours touched different fields: both are kept.`, "info");
    return merged;
  }
  const picks = await askConflict({
    conflicts, theirsVersion: current.version, label: (p) => LABELS[p[0]] || p.join("."),
  });
  const kept = conflicts.map((c, i) => `${LABELS[c.path[0]] || c.path.join(".")}: ${picks[i] === "mine" ? "yours" : "theirs"}`);
  say(notice, `Saved on top of version ${current.version}, keeping ${kept.join(", ")}. Version ${current.version} stays in the history.`, "ok");
  return applyChoices(merged, conflicts, picks);
}

function onRemote(d, { dirty }) {
  if (dirty) {
    say(notice, `Another tab saved version ${d.version} while you were editing. Your edits are not saved yet; when they are, they are merged with it (you choose where you both changed the same field).`, "warn");
  } else {
    fillForm(d.config);
    savedEl.textContent = "";
    say(notice, `Another tab saved version ${d.version}; this page now shows it.`, "info");
    showState();
  }
  history();
}

/* Saves are one at a time; edits made while one is in flight go in the next. */
let saving = null, again = false, timer = null;

function save(value) {
  clearTimeout(timer);
  if (saving) { again = true; return saving; }
  saving = (async () => {
    try {
      do {
        again = false;
        const mine = value || formConfig();
        value = undefined;
        if (jsonEqual(mine, rec.base)) break;
        savedEl.textContent = "Saving…";
        const saved = await rec.save(mine, (version, config) => ({ method: "PUT", body: { version, config } }));
        // Fields typed while the save was in flight stay as typed.
        const typed = FIELDS.filter((f) => form.elements[f].value !== display(mine[f]));
        const keep = typed.map((f) => form.elements[f].value);
        fillForm(rec.base);
        typed.forEach((f, i) => { form.elements[f].value = keep[i]; });
        if (typed.length) again = true;
        if (saved) savedEl.textContent = `Saved as version ${saved.version}.`;
        showState();
      } while (again);
    } catch (e) {
      savedEl.textContent = "";
      say(notice, `Not saved: ${e.message}. Your edits are still here; saving again in a moment.`, "bad");
      timer = setTimeout(() => save(), 3000);
    } finally {
      saving = null;
    }
    history();
  })();
  return saving;
}

form.addEventListener("input", () => {
  savedEl.textContent = "Unsaved changes.";
  clearTimeout(timer);
  if ($("#autosave").checked) timer = setTimeout(() => save(), AUTOSAVE_MS);
});
form.addEventListener("submit", (e) => { e.preventDefault(); save(); });

async function history() {
  try {
    const r = await api.get("/v1/storefront/draft/versions");
    $("#history").replaceChildren(...r.body.items.slice(0, 12).map((it) => h("li", {},
      h("span", { class: "grow" }, `Version ${it.version}`, " ", h("span", { class: "meta" }, time(it.updated_at))),
      it.version === rec.version
        ? h("span", { class: "badge ok" }, "current")
        : h("button", { "data-version": it.version, "aria-label": `Restore version ${it.version}`, onclick: () => restore(it.version) }, "Restore"))));
  } catch { /* the next save or update draws it */ }
}

async function restore(v) {
  const r = await api.get(`/v1/storefront/draft/versions/${v}`);
  fillForm(r.body.config);
  await save(r.body.config);
  say(notice, `Version ${v} restored as version ${rec.version}.`, "ok");
}

function showPublished(p) {
  $("#published").textContent = p
    ? `Published: version ${p.draft_version}, at ${time(p.published_at)}.`
    : "Nothing published yet.";
}

$("#publish").addEventListener("click", async () => {
  if (rec.dirty()) await save();
  try {
    const r = await api.post("/v1/storefront/publish", { version: rec.version }, { key: newKey("publish") });
    showPublished(r.body.published);
    say(notice, `Version ${r.body.published.draft_version} is published.`, "ok");
  } catch (e) {
    if (e instanceof ApiError && e.isConflict) {
      say(notice, `Not published: another tab saved version ${e.body.current_version} since this page loaded it. Look it over, then publish again.`, "warn");
      if (!rec.dirty()) { rec._take(e.body.current); fillForm(rec.base); showState(); }
    } else say(notice, `Not published: ${e.message}`, "bad");
  }
});

$("#discard").addEventListener("click", async () => {
  try {
    const r = await api.post("/v1/storefront/discard", { version: rec.version }, { key: newKey("discard") });
    rec._take(r.body, r.version);
    fillForm(rec.base);
    showState();
    say(notice, `The draft is back to the published config (version ${rec.version}). The discarded versions stay in the history.`, "ok");
    history();
  } catch (e) {
    say(notice, e instanceof ApiError && e.isConflict
      ? `Not discarded: another tab saved version ${e.body.current_version} meanwhile. Look at it first.`
      : `Not discarded: ${e.message}`, "warn");
  }
});

if (api) {
  try {
    const [all] = await Promise.all([api.get("/v1/storefront"), rec.load()]);
    showPublished(all.body.published);
    fillForm(rec.base);
    showState();
    history();
    const mode = await rec.follow();
    $("#mode").textContent = mode === "sse" ? "live updates" : "checking for other tabs' saves every 1.5 s";
    document.body.dataset.ready = mode;
  } catch (e) {
    say(notice, `Could not load the draft: ${e.message}`, "bad");
  }
}
