// SPDX-License-Identifier: MIT
// What check.mjs and check_keys.mjs share: the environment that
// ../test_azure_sdk.sh sets, "ok - ..." / "not ok - ..." lines, steps with
// a time bound, the emulator's admin API and its request log.
import { readFileSync } from "node:fs";

export function env(name, who) {
  const v = process.env[name];
  if (!v) {
    console.error(`${who}: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

export function harness(who, stepMs) {
  const KV_ADMIN = env("KV_ADMIN", who);
  const KV_LOG = env("KV_LOG", who);
  const t = { passed: 0, failed: 0 };
  t.ok = (cond, desc, detail) => {
    if (cond) {
      t.passed++;
      console.log(`ok - ${desc}`);
    } else {
      t.failed++;
      console.log(`not ok - ${desc}${detail === undefined ? "" : ` (${detail})`}`);
    }
  };
  t.eq = (got, want, desc) => {
    const g = JSON.stringify(got);
    const w = JSON.stringify(want);
    t.ok(g === w, desc, `got ${g}, want ${w}`);
  };
  // A step that throws or hangs fails alone; the next ones still run.
  t.step = async (desc, fn) => {
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${stepMs} ms`)), stepMs);
        }),
      ]);
    } catch (e) {
      t.ok(false, desc, `threw ${e?.name}: ${e?.message}`);
    } finally {
      clearTimeout(timer);
    }
  };
  t.expectRestError = async (promise) => {
    try {
      await promise;
    } catch (e) {
      return e;
    }
    return null;
  };
  t.admin = async (method, path, body) => {
    const res = await fetch(`${KV_ADMIN}/${path}`, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10000),
    });
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  t.clearLog = () => t.admin("DELETE", "log");
  t.readLog = () =>
    readFileSync(KV_LOG, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  // The emulator's identity platform endpoint, client credentials grant:
  // { status, body } as it answered.
  t.fetchToken = async (scope) => {
    const url = env("KV_URL", who);
    const res = await fetch(`${url}/${env("KV_TENANT", who)}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: env("KV_CLIENT_ID", who),
        client_secret: env("KV_CLIENT_SECRET", who),
        scope,
      }),
      signal: AbortSignal.timeout(10000),
    });
    return { status: res.status, body: await res.json() };
  };
  t.finish = () => {
    console.log(`${who}: ${t.passed} passed, ${t.failed} failed`);
    process.exit(t.failed === 0 && t.passed > 0 ? 0 : 1);
  };
  return t;
}
