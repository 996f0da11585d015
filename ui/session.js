// Who is signed in: the token every page of the desk shares (sessionStorage,
// or #token=… once, removed from the URL) and what the page shows about it,
// read from the JWT's payload. Display only: the signature is not checked
// here, the server checks every request against its own verification
// (transport/auth.py).

export const TOKEN_KEY = "tickstage.token";

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

// {user, role, accounts, groups, expiresS} of a token; nulls when unreadable.
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), "=")));
    return {
      user: String(claims.sub ?? ""), role: String(claims.role ?? "trader"),
      accounts: Array.isArray(claims.accounts) ? claims.accounts.map(String) : null,
      groups: Array.isArray(claims.groups) ? claims.groups.map(String) : null,
      expiresS: Number(claims.exp) || null,
    };
  } catch {
    return { user: null, role: null, accounts: null, groups: null, expiresS: null };
  }
}
