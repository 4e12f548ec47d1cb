#!/usr/bin/env node
// A real browser for the sign-in test (tests/interop/token-signin.sh): Debian's chromium
// (/usr/bin/chromium, apt) driven by playwright-core (pinned in package.json; it never downloads a
// browser). One persistent profile per test, so the session cookie survives between the steps the
// shell script runs with registry clients in between.
//
//   node tests/interop/signin-browser.mjs create --base URL --login alice --name NAME --days N \
//        --profile DIR --shots DIR --key-file FILE
//     signs in through the provider's login form, creates a credential, writes it to FILE
//   node tests/interop/signin-browser.mjs revoke --base URL --login alice --name NAME --profile DIR --shots DIR
//     revokes the credential NAME on the account page
//   node tests/interop/signin-browser.mjs approve|deny --base URL --login alice --url URL --code CODE \
//        --profile DIR --shots DIR [--prefix NAME]
//     opens a device login URL (what docker-credential-tollgate printed), signs in if needed, checks
//     the page shows CODE, and presses Approve or Deny (tests/interop/token-device.sh)
// Screenshots (PNG) of every page go to --shots. Exit status non-zero with a message on failure.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [cmd, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  if (i >= 0) return rest[i + 1];
  if (dflt === undefined) throw new Error(`--${name} is required`);
  return dflt;
};
const base = opt("base");
const login = opt("login");
const shots = opt("shots");
mkdirSync(shots, { recursive: true });

// The flags this machine's closed network needs (no background connections to Google).
const context = await chromium.launchPersistentContext(opt("profile"), {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  viewport: { width: 900, height: 1000 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] ?? await context.newPage();
page.setDefaultTimeout(20_000);
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

/** Opens `url` on Tollgate, signing in through the provider's login form when there is no session
 * (Tollgate sends the browser back to the same path afterwards). */
async function open(url, loginShot = "1-provider-login") {
  const path = new URL(url).pathname;
  await page.goto(url);
  if (new URL(page.url()).pathname !== path) {
    await page.waitForSelector('input[name="login"]');
    await shot(loginShot);
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', "any password");
    await Promise.all([
      page.waitForURL((u) => u.origin === new URL(base).origin && u.pathname === path),
      page.click('button[type="submit"]'),
    ]);
  }
}

/** The account page. */
async function account() {
  await open(`${base}/account`);
  await page.waitForSelector("#account");
}

try {
  if (cmd === "create") {
    await account();
    await shot("2-account");
    await page.fill("#name", opt("name"));
    await page.fill("#days", opt("days", "7"));
    await Promise.all([page.waitForLoadState("load"), page.click('button:has-text("Create credential")')]);
    const key = (await page.textContent("#secret", { timeout: 10_000 })).trim();
    if (!/^tgp_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/.test(key)) throw new Error(`no credential on the page (got ${key.slice(0, 8)}...)`);
    writeFileSync(opt("key-file"), `${key}\n`, { mode: 0o600 });
    await shot("3-new-credential");
    console.log(`signed in as ${await page.textContent("#account")} (groups: ${await page.textContent("#groups")}), created '${opt("name")}'`);
  } else if (cmd === "revoke") {
    await account();
    const name = opt("name");
    await Promise.all([page.waitForLoadState("load"), page.click(`button[aria-label="Revoke ${name}"]`)]);
    await page.waitForSelector(`text=Revoked “${name}”`);
    await shot("4-revoked");
    console.log(`revoked '${name}'`);
  } else if (cmd === "approve" || cmd === "deny") {
    const prefix = opt("prefix", "device");
    const url = opt("url");
    if (new URL(url).origin !== new URL(base).origin) throw new Error(`${url} is not on ${base}`);
    await open(url, `${prefix}-1-provider-login`);
    await page.waitForSelector("#approve");
    const shown = (await page.textContent("#user-code")).trim();
    if (shown !== opt("code")) throw new Error(`the page shows code ${shown}, the client printed ${opt("code")}`);
    const about = `client ${(await page.textContent("#client")).trim()}, registry ${(await page.textContent("#registry")).trim()}`;
    await shot(`${prefix}-2-confirm`);
    await Promise.all([page.waitForLoadState("load"), page.click(`#${cmd}`)]);
    const result = (await page.textContent("#result", { timeout: 10_000 })).trim();
    const done = cmd === "approve" ? "approved" : "denied";
    await shot(`${prefix}-3-${done}`);
    console.log(`${done} code ${shown} (${about}): ${result}`);
  } else {
    throw new Error(`unknown command ${cmd}: create, revoke, approve or deny`);
  }
} catch (e) {
  await shot("error").catch(() => {});
  console.error(`signin-browser ${cmd}: ${e.message} (at ${page.url()})`);
  process.exitCode = 1;
} finally {
  await context.close();
}
