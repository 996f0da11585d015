// What the page shows about who is signed in, read from the JWT's payload.
// Display only: the signature is not checked here, the server checks every
// request against its own verification (transport/auth.py).

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
