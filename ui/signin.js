// The sign-in form: user and password for the desk's own issuer (POST /auth/login,
// transport/signin/auth_api.py), or a token pasted from an outside issuer. One form for
// the login page (ui/login.html) and for the overlay the desk shows when a
// session ends (ui/index.html), so the layout stays behind it.
//
// mountSignIn(root, {onToken(token), title}) builds the form into root and returns
// {show(message), hide(), message(text)}; whether it shows is the page's CSS (body[data-session]).

import { authPost } from "./session.js";

const LOGIN_URL = new URL("./auth/login", import.meta.url).href;
const CONFIG_URL = new URL("./auth/config", import.meta.url).href;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export function mountSignIn(root, { onToken, title = "Sign in" }) {
  const heading = element("h1", { id: "signin-title", text: title });
  const note = element("p", { id: "signin-note", class: "signin-note" });
  const message = element("p", { id: "login-message", class: "login-message", role: "status" });
  const user = element("input", { id: "signin-user", name: "username", autocomplete: "username", required: "",
    maxlength: "64", spellcheck: "false", autocapitalize: "off" });
  const password = element("input", { id: "signin-password", name: "password", type: "password",
    autocomplete: "current-password", required: "", maxlength: "1024" });
  const submit = element("button", { type: "submit", class: "primary", text: "Sign in" });
  const form = element("form", { id: "signin", class: "signin-form" },
    element("label", { for: "signin-user", text: "User" }), user,
    element("label", { for: "signin-password", text: "Password" }), password, submit);
  const token = element("input", { id: "token", type: "password", placeholder: "paste a JWT from your issuer",
    "aria-label": "token", autocomplete: "off" });
  const tokenForm = element("form", { id: "login", class: "login token-form", autocomplete: "off" },
    token, element("button", { type: "submit", text: "Use token" }));
  const divider = element("div", { class: "signin-divider", text: "or" });
  const card = element("div", { class: "signin-card" },
    element("div", { class: "brand", text: "tick" }, element("span", { text: "stage" })),
    heading, note, message, form, divider, tokenForm);
  root.replaceChildren(card);

  const say = (text) => { message.textContent = text; };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    say("");
    const { status, body } = await authPost(LOGIN_URL, { user: user.value.trim(), password: password.value });
    submit.disabled = false;
    password.value = "";
    if (status === 200 && body.access_token) {
      onToken(body.access_token);
      return;
    }
    say(body.message || `Sign-in failed (${body.error || `HTTP ${status}`})`);
    password.focus();
  });
  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = token.value.trim();
    token.value = "";
    if (value) onToken(value);
  });
  // A desk whose users sign in elsewhere (RS256 / JWKS) has no password form.
  fetch(CONFIG_URL).then((response) => response.json()).then((config) => {
    if (config.issuer === false) {
      form.hidden = true;
      divider.hidden = true;
      note.textContent = "This desk takes tokens from your organisation's issuer.";
    }
  }).catch(() => {});

  return {
    show(text = "") {
      say(text);
      (user.value ? password : user).focus();
    },
    hide() {
      say("");
    },
    message: say,
  };
}
