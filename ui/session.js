// Who is signed in: the token every page of the desk shares (sessionStorage,
// or #token=… once, removed from the URL) and what the page shows about it,
// read from the JWT's payload. Display only: the signature is not checked
// here, the server checks every request against its own verification
// (transport/signin/auth.py). Also the embedded issuer's HTTP calls
// (transport/signin/auth_api.py), used by the pages and by the worker that renews
// the token (ui/hub.js); no DOM here, so workers may import it.

export const TOKEN_KEY = "tickstage.token";
export const FRESH_KEY = "tickstage.fresh"; // "1": the token was just signed in for (the login page)
// The issuer's POSTs must carry this header: a cross-site form cannot (CSRF; transport/signin/auth_api.py).
export const AUTH_HEADERS = { "X-Tickstage": "1", "Content-Type": "application/json" };

// The token from #token=… (kept in sessionStorage and removed from the URL) or the stored one; null if none.
export function tokenFromLocation() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// {user, role, accounts, groups, expiresS, issuedS} of a token (times: s since UNIX epoch); nulls when unreadable.
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
    return {
      user: String(claims.sub ?? ""), role: String(claims.role ?? "trader"),
      accounts: Array.isArray(claims.accounts) ? claims.accounts.map(String) : null,
      groups: Array.isArray(claims.groups) ? claims.groups.map(String) : null,
      expiresS: Number(claims.exp) || null,
      issuedS: Number(claims.iat) || null,
    };
  } catch {
    return { user: null, role: null, accounts: null, groups: null, expiresS: null, issuedS: null };
  }
}

// POST to the issuer; resolves {status, body} (status 0 when the desk could not be reached), never rejects.
export async function authPost(url, body = undefined, fetchFn = globalThis.fetch) {
  try {
    const response = await fetchFn(url, {
      method: "POST", credentials: "same-origin", headers: AUTH_HEADERS, cache: "no-store",
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { error: `HTTP ${response.status}`, message: text.slice(0, 200) };
    }
    return { status: response.status, body: parsed };
  } catch (error) {
    return { status: 0, body: { error: "unreachable", message: String(error?.message ?? error) } };
  }
}

// A new access token from the refresh cookie (POST /auth/refresh), one browser-wide call at a time: two
// concurrent calls would present one refresh token twice, which the issuer takes for theft.
// Resolves {status, body}; body.access_token on success.
export function refreshAccessToken(url, fetchFn = globalThis.fetch) {
  const call = () => authPost(url, undefined, fetchFn);
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request("tickstage.refresh", call) : call();
}
