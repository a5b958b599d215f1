// access.test.mjs -- what a link (#api=, #token=) may change in a page of
// web/ (web/access.js): an API origin other than the page's own only when
// configured at install time, never saved otherwise; a saved token replaced
// only when the visitor says so (node --test tests/web/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { chooseApi, chooseToken, originOf } from "../../web/access.js";
import { API_ORIGINS } from "../../web/config.js";

const PAGE = "https://shop.example.com";

test("a foreign #api= is refused and not saved", () => {
  const r = chooseApi("https://evil.example.net", null, PAGE, []);
  assert.deepEqual(r, { api: "", save: null, refused: "https://evil.example.net" });
});

test("a foreign origin saved before is dropped", () => {
  const r = chooseApi(null, "https://evil.example.net", PAGE, []);
  assert.equal(r.api, "");
  assert.equal(r.save, null);
});

test("the page's own origin and a configured one are taken", () => {
  assert.deepEqual(chooseApi(PAGE + "/", null, PAGE, []), { api: "", save: null, refused: "" });
  const api = "https://api.example.com";
  assert.deepEqual(chooseApi(api + "/x", null, PAGE, [api]), { api, save: api, refused: "" });
  assert.deepEqual(chooseApi(null, api, PAGE, [api]), { api, save: api, refused: "" });
  // A configured origin does not let a look-alike in.
  assert.equal(chooseApi("https://api.example.com.evil.net", null, PAGE, [api]).api, "");
  assert.equal(chooseApi("javascript:alert(1)", null, PAGE, [api]).api, "");
});

test("the shipped configuration allows no other origin", () => {
  assert.deepEqual(API_ORIGINS, []);
  assert.equal(originOf("ftp://x"), "");
});

test("#token= does not silently replace a saved token", () => {
  const asked = [];
  const no = (q) => { asked.push(q); return false; };
  assert.equal(chooseToken("opt_new", "opt_old", no), "opt_old");
  assert.equal(asked.length, 1);
  assert.equal(chooseToken("opt_new", "opt_old", () => true), "opt_new");
  // Nothing saved: the link's token is taken; the same token: no question.
  assert.equal(chooseToken("opt_new", null, no), "opt_new");
  assert.equal(chooseToken("opt_old", "opt_old", no), "opt_old");
  assert.equal(asked.length, 1);
  assert.equal(chooseToken(null, "opt_old", no), "opt_old");
});
