// access.js -- which API and which token a page uses, from its address's
// fragment (#token=, #api=) and what this browser saved. Pure: common.js
// passes in the storage's values and a confirm function.
//
// A link must not be able to take a visitor's token elsewhere, nor swap it:
// - #api= is taken only for the page's own origin or one configured at
//   install time (config.js); anything else is refused, never saved, and a
//   saved origin that is no longer allowed is dropped;
// - #token= is taken when none is saved; a different saved token is
//   replaced only if the visitor confirms.

/** The origin of `url` ("" if it is not an http(s) URL). */
export function originOf(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : "";
  } catch {
    return "";
  }
}

/** The API base URL to use: "" for the page's own origin. `fragApi` is the
 * #api= value (or null), `stored` the saved one (or null). Returns
 * { api, save, refused }: `save` is what to keep in storage (null: remove
 * it), `refused` the origin that was not allowed (or ""). */
export function chooseApi(fragApi, stored, pageOrigin, allowed) {
  const ok = (o) => o !== "" && (o === pageOrigin || allowed.includes(o));
  let refused = "";
  if (fragApi != null) {
    const o = originOf(fragApi);
    if (o === pageOrigin) return { api: "", save: null, refused };
    if (ok(o)) return { api: o, save: o, refused };
    refused = fragApi;
  }
  const s = stored ? originOf(stored) : "";
  if (ok(s) && s !== pageOrigin) return { api: s, save: s, refused };
  return { api: "", save: null, refused };
}

/** The token to use and to keep: `fragToken` (#token=, or null), the saved
 * one, and confirm(question) -> boolean for a link that would replace a
 * different saved token. */
export function chooseToken(fragToken, stored, confirm) {
  if (fragToken == null || fragToken === "" || fragToken === stored) return stored;
  if (!stored) return fragToken;
  return confirm("This link carries another API token. Replace the token saved in this browser with it?")
    ? fragToken
    : stored;
}
