// The browser side of a sign-in for the Miniflare tests (signin.test.mjs, device.test.mjs): cookies
// by name, and a tiny browser that walks the real OpenID provider's login (fetch + cookie jar).
import assert from "node:assert/strict";

/** `name=value` of a Set-Cookie by name, from a response. */
export function setCookie(res, name) {
  return res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
}
export const cookieValue = (c) => c.split(";")[0].split("=").slice(1).join("=");

/** A tiny browser for the provider's side: follows redirects by hand, keeps its cookies. */
export class IdpBrowser {
  jar = new Map();
  /** `redirect`: Tollgate's callback URL, where the provider's part ends. */
  constructor(redirect) {
    this.redirect = redirect;
  }
  async go(url, init = {}) {
    const headers = { ...(init.headers ?? {}), cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ") };
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      this.jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }
  /** Follows the provider's redirects (and the login form) until it sends the browser back to Tollgate. */
  async signIn(authorizationUrl, login) {
    let url = authorizationUrl;
    for (let i = 0; i < 10; i++) {
      if (url.startsWith(this.redirect)) return url;
      let res = await this.go(url);
      if (res.status === 200 && /name="login"/.test(await res.clone().text())) {
        res = await this.go(url, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ prompt: "login", login, password: "any" }).toString(),
        });
      }
      const loc = res.headers.get("location");
      assert.ok(loc, `the provider answered ${res.status} without a redirect at ${url}`);
      url = new URL(loc, url).href;
    }
    throw new Error("the provider never redirected back");
  }
}

