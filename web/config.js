// config.js -- set at install time, not by a link: the API origins, other
// than the pages' own, that a page may be pointed at with #api=<origin>
// (each must allow the pages' origin: nginx/optimist-cors.conf). Empty: the
// pages talk to their own origin only.
export const API_ORIGINS = [];
