// The login page: sign in (ui/signin.js), keep the access token for this tab
// (sessionStorage, as every page of the desk) and open the desk, or the page
// named by ?next= (ops, recorder.html). A tab that still has a refresh cookie
// (a reload) goes back to the desk at once.

import { mountSignIn } from "./signin.js";
import { FRESH_KEY, TOKEN_KEY, refreshAccessToken } from "./session.js";

const PAGES = new Set(["", "ops", "recorder.html"]);
const asked = new URLSearchParams(location.search).get("next") ?? "";
const next = new URL(`./${PAGES.has(asked) ? asked : ""}`, location.href).href;

function enter(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(FRESH_KEY, "1");
  location.replace(next);
}

const form = mountSignIn(document.querySelector("#signin-root"), { onToken: enter });
const reason = new URLSearchParams(location.search).get("reason");
form.show(reason ? reason.slice(0, 200) : "");
window.tickstageLogin = { ready: true };
