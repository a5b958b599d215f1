// common.js -- what every page of web/ shares: the token (from the URL's
// fragment, kept in localStorage), the navigation, notices, and the conflict
// dialog (theirs and yours side by side, field by field).
import { Client } from "./optimist.js";
import { chooseApi, chooseToken } from "./access.js";
import { API_ORIGINS } from "./config.js";

const PAGES = [
  ["storefront.html", "Storefront draft"],
  ["session.html", "Agent session"],
  ["bid.html", "Bid"],
  ["approvals.html", "Approvals"],
  ["chat.html", "Report chat"],
];

/** The token and the API's origin, from #token= / #api= (taken out of the
 * address bar at once) or what this browser saved: see access.js for what
 * a link may and may not change. */
let apiBase = "";
export function token() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const api = chooseApi(frag.get("api"), localStorage.getItem("optimist.api"),
    location.origin, API_ORIGINS);
  if (api.save) localStorage.setItem("optimist.api", api.save);
  else localStorage.removeItem("optimist.api");
  if (api.refused) console.warn("optimist: #api=" + api.refused + " refused: not this origin nor one configured in config.js");
  apiBase = api.api;
  const saved = localStorage.getItem("optimist.token");
  const t = chooseToken(frag.get("token"), saved, (q) => window.confirm(q));
  if (t && t !== saved) localStorage.setItem("optimist.token", t);
  if (frag.has("token") || frag.has("api")) history.replaceState(null, "", location.pathname + location.search);
  return t;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** An element: h("li", { class: "x", onclick }, "text", child...). */
export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k instanceof Node ? k : String(k));
  return e;
}

/** The page's header and client; null (and a token form) when there is no token. */
export function start(current) {
  const nav = h("header", { class: "top" },
    h("a", { class: "brand", href: "index.html" }, "optimist"),
    ...PAGES.map(([href, name]) => h("a", { href, "aria-current": href === current ? "page" : null }, name)));
  document.body.prepend(nav);
  const t = token();
  if (!t) {
    const form = h("form", { class: "card" },
      h("label", { for: "tok" }, "API token"),
      h("input", { id: "tok", autocomplete: "off", required: true }),
      h("p", { class: "meta" }, "The token that `make run` printed. It is kept in this browser's storage only."),
      h("button", { class: "primary" }, "Use it"));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      localStorage.setItem("optimist.token", $("#tok").value.trim());
      location.reload();
    });
    $("main").replaceChildren(h("h1", {}, "Sign in"), form);
    return null;
  }
  return new Client({ token: t, baseUrl: apiBase });
}

/** Shows a message in a notice box (role=status / alert in the page). */
export function say(box, text, kind = "info") {
  box.className = "notice " + kind;
  box.textContent = text || "";
}

export const time = (iso) => iso ? new Date(iso).toLocaleTimeString() : "";

/** A query parameter as a positive integer, or null. */
export function idParam(name = "id") {
  const v = new URLSearchParams(location.search).get(name);
  return /^\d+$/.test(v || "") ? Number(v) : null;
}

/** Puts ?id=N in the address bar (after creating the resource). */
export function setIdParam(id) {
  const q = new URLSearchParams(location.search);
  q.set("id", id);
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

function show(v) {
  if (v === undefined) return h("span", { class: "absent" }, "(removed)");
  if (v === "" ) return h("span", { class: "absent" }, "(empty)");
  return typeof v === "string" ? v : h("code", {}, JSON.stringify(v));
}

/**
 * The conflict dialog: one row per field changed on both sides, theirs and
 * yours side by side, with a choice per row. Resolves with an array of
 * "mine"/"theirs" (one per conflict): "Keep mine" picks yours everywhere,
 * "Take theirs" theirs everywhere, "Merge" what the rows say.
 * label(path) names a field for a person.
 */
export function askConflict({ conflicts, theirsVersion, label = (p) => p.join(".") }) {
  let dlg = $("#conflict");
  if (!dlg) {
    dlg = h("dialog", { id: "conflict", "aria-labelledby": "conflict-title", "aria-describedby": "conflict-desc" });
    document.body.append(dlg);
  }
  const rows = conflicts.map((c, i) => h("tr", { "data-field": c.path.join(".") },
    h("th", { scope: "row" }, label(c.path)),
    h("td", { class: "val theirs" }, h("label", { class: "pick" },
      h("input", { type: "radio", name: `pick${i}`, value: "theirs" }),
      h("span", {}, h("span", { class: "side" }, `Theirs (version ${theirsVersion}): `), show(c.theirs)))),
    h("td", { class: "val mine" }, h("label", { class: "pick" },
      h("input", { type: "radio", name: `pick${i}`, value: "mine", checked: true }),
      h("span", {}, h("span", { class: "side" }, "Yours: "), show(c.mine))))));
  const form = h("form", { method: "dialog" },
    h("div", { class: "head" },
      h("h2", { id: "conflict-title" }, "Another tab changed the same fields"),
      h("p", { id: "conflict-desc", class: "meta" },
        `Version ${theirsVersion} was saved while you were editing. Everything that only one side changed is already merged. ` +
        "For each field below, pick the value to keep, or keep all of yours or all of theirs. Nothing is lost: the other version stays in the history.")),
    h("div", { class: "body" },
      h("table", { class: "sides" },
        h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, `Theirs (version ${theirsVersion})`), h("th", {}, "Yours"))),
        h("tbody", {}, rows))),
    h("div", { class: "foot" },
      h("button", { value: "theirs", id: "take-theirs" }, "Take theirs"),
      h("button", { value: "mine", id: "keep-mine" }, "Keep mine"),
      h("button", { value: "merge", id: "merge", class: "primary" }, "Merge (as picked)")));
  dlg.replaceChildren(form);
  return new Promise((resolve) => {
    // Escape would leave the save undecided: the person picks one of three.
    dlg.addEventListener("cancel", (e) => e.preventDefault(), { once: true });
    dlg.addEventListener("close", () => {
      const v = dlg.returnValue;
      if (v === "mine" || v === "theirs") resolve(conflicts.map(() => v));
      else resolve(conflicts.map((_, i) => form.querySelector(`input[name=pick${i}]:checked`).value));
    }, { once: true });
    dlg.returnValue = "";
    dlg.showModal();
    $("#merge", dlg).focus();
  });
}
