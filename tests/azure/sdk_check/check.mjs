// SPDX-License-Identifier: MIT
// Fidelity check: Microsoft's own @azure/keyvault-secrets SecretClient
// against the cmkfs Key Vault emulator (../kv_emulator.py). Run by
// ../test_azure_sdk.sh, which starts the emulator and sets:
//   KV_URL        https://127.0.0.1:PORT (the vault)
//   KV_ADMIN      http://127.0.0.1:PORT/_emulator (admin API, plain HTTP)
//   KV_LOG        the emulator's request log (JSON lines)
//   KV_CONFIG     the emulator's config (expected secrets come from it)
//   KV_TENANT, KV_CLIENT_ID, KV_CLIENT_SECRET
//   NODE_EXTRA_CA_CERTS   the throwaway test CA
// Prints "ok - ..." / "not ok - ..." lines and exits 1 if any failed.
import { readFileSync } from "node:fs";
import { env as envOf, harness } from "./harness.mjs";
import { SecretClient } from "@azure/keyvault-secrets";

const env = (name) => envOf(name, "check.mjs");
const KV_URL = env("KV_URL");
const TENANT = env("KV_TENANT");
const config = JSON.parse(readFileSync(env("KV_CONFIG"), "utf8"));
const cmk = config.secrets.cmk.versions;
const SCOPE = "https://vault.azure.net/.default";

const {
  ok, eq, step, expectRestError, admin, clearLog, readLog, finish, fetchToken: harnessFetchToken,
} = harness("check.mjs", 30000);

// Token from the emulator's Microsoft identity platform endpoint (client
// credentials), fetched on every getToken call: the credential is the plain
// object the brief asks for, and it records how the SDK calls it.
const tokenCalls = [];
const fetchToken = () => harnessFetchToken(SCOPE);
const credential = {
  getToken: async (scopes, options) => {
    tokenCalls.push({ scopes, tenantId: options?.tenantId });
    const { status, body } = await fetchToken();
    if (status !== 200) throw new Error(`token endpoint: ${status} ${JSON.stringify(body)}`);
    return { token: body.access_token, expiresOnTimestamp: Date.now() + body.expires_in * 1000 };
  },
};
const clientOptions = {
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 5000 },
};
let client = new SecretClient(KV_URL, credential, clientOptions);

await step("token endpoint answers like Microsoft identity platform", async () => {
  const { status, body } = await fetchToken();
  eq(status, 200, "token endpoint: 200");
  eq(
    [body.token_type, typeof body.expires_in, body.expires_in, body.ext_expires_in, typeof body.access_token],
    ["Bearer", "number", 3599, 3599, "string"],
    "token endpoint: token_type, expires_in, ext_expires_in, access_token",
  );
});

await step("getSecret current version", async () => {
  await clearLog();
  const s = await client.getSecret("cmk");
  const cur = cmk[cmk.length - 1];
  eq(s.value, cur.value, "getSecret(cmk): value of the current (last created) version");
  eq(s.properties.version, cur.id, "getSecret(cmk): properties.version");
  eq(s.name, "cmk", "getSecret(cmk): name");
  eq(s.properties.vaultUrl, KV_URL, "getSecret(cmk): vaultUrl parsed from the id");
  eq(s.properties.id, `${KV_URL}/secrets/cmk/${cur.id}`, "getSecret(cmk): id");
  eq(s.properties.enabled, true, "getSecret(cmk): enabled");
  eq(s.properties.createdOn?.getTime(), cur.created * 1000, "getSecret(cmk): createdOn");
  eq(
    [s.properties.recoveryLevel, s.properties.recoverableDays],
    ["Recoverable+Purgeable", 90],
    "getSecret(cmk): recoveryLevel, recoverableDays",
  );
  eq(tokenCalls.length, 1, "challenge: getToken called once");
  eq(tokenCalls[0]?.scopes, [SCOPE], "challenge: scope from the resource parameter");
  eq(tokenCalls[0]?.tenantId, TENANT, "challenge: tenant from the authorization URI");
  const log = readLog().filter((e) => e.kind === "kv");
  eq(
    log.map((e) => [e.method, e.path, e.auth, e.status]),
    [
      ["GET", "/secrets/cmk/", false, 401],
      ["GET", "/secrets/cmk/", true, 200],
    ],
    "challenge: unauthenticated 401 first, then the request with the token",
  );
  ok(log.every((e) => /(^|&)api-version=2025-07-01(&|$)/.test(e.query)), "default api-version 2025-07-01 accepted",
    JSON.stringify(log.map((e) => e.query)));
});

await step("getSecret given versions", async () => {
  const s1 = await client.getSecret("cmk", { version: cmk[0].id });
  eq([s1.value, s1.properties.version], [cmk[0].value, cmk[0].id], "getSecret(cmk, v1): value and version");
  const v3 = cmk[2];
  const s3 = await client.getSecret("cmk", { version: v3.id });
  eq(s3.value, v3.value, "getSecret(cmk, v3): value returned although nbf is ahead and exp is past");
  eq(
    [s3.properties.notBefore?.getTime(), s3.properties.expiresOn?.getTime()],
    [v3.nbf * 1000, v3.exp * 1000],
    "getSecret(cmk, v3): notBefore / expiresOn reported for the client to check",
  );
  eq([s3.properties.contentType, s3.properties.tags], [v3.contentType, v3.tags], "getSecret(cmk, v3): contentType, tags");
});

await step("listPropertiesOfSecretVersions across pages", async () => {
  await clearLog();
  const ids = [];
  for await (const p of client.listPropertiesOfSecretVersions("cmk")) {
    ids.push(p.version);
    if (ids.length > 50) break;
  }
  eq([...ids].sort(), cmk.map((v) => v.id).sort(), "list versions: all 5 versions, once each");
  const log = readLog().filter((e) => e.path === "/secrets/cmk/versions");
  eq(log.length, 3, "list versions: 3 pages of page_size 2 fetched");
  eq(
    log.map((e) => e.query.includes("$skiptoken=")),
    [false, true, true],
    "list versions: the SDK followed nextLink ($skiptoken)",
  );
  ok(log.every((e) => e.auth && e.status === 200), "list versions: every page authenticated and 200");

  // (4.11.x maps each page to a new array, so page.continuationToken is not
  // surfaced: the page sizes and the log show the paging instead.)
  const sizes = [];
  for await (const page of client.listPropertiesOfSecretVersions("cmk").byPage({ maxPageSize: 2 })) {
    sizes.push(page.length);
    if (sizes.length > 10) break;
  }
  eq(sizes, [2, 2, 1], "byPage(maxPageSize 2): pages of 2, 2, 1 (the last nextLink is null)");
  const ones = [];
  await clearLog();
  for await (const page of client.listPropertiesOfSecretVersions("cmk").byPage({ maxPageSize: 1 })) {
    ones.push(page.length);
    if (ones.length > 10) break;
  }
  eq(ones, [1, 1, 1, 1, 1], "byPage(maxPageSize 1): maxresults honored across nextLinks");
  const pages1 = readLog().filter((e) => e.path === "/secrets/cmk/versions");
  ok(
    pages1.length === 5 && pages1.every((e) => /(^|&)maxresults=1(&|$)/.test(e.query)),
    "byPage(maxPageSize 1): every page request carries maxresults=1",
  );
  const disabled = [];
  for await (const p of client.listPropertiesOfSecretVersions("cmk")) {
    if (!p.enabled) disabled.push(p.version);
  }
  eq(disabled, cmk.filter((v) => v.enabled === false).map((v) => v.id), "list versions: the disabled version is listed, enabled false");
});

await step("listPropertiesOfSecrets", async () => {
  const names = [];
  for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
  eq(names.sort(), Object.keys(config.secrets).sort(), "list secrets: every secret");
});

await step("SecretDisabled (403)", async () => {
  const v2 = cmk.find((v) => v.enabled === false);
  const e = await expectRestError(client.getSecret("cmk", { version: v2.id }));
  eq([e?.name, e?.statusCode, e?.code], ["RestError", 403, "Forbidden"], "disabled version: RestError 403 Forbidden");
  eq(e?.message, "Operation get is not allowed on a disabled secret.", "disabled version: message");
  const e2 = await expectRestError(client.getSecret("cmk-off"));
  eq([e2?.statusCode, e2?.code], [403, "Forbidden"], "current version disabled: 403, no fallback");
});

await step("SecretNotFound (404)", async () => {
  const e = await expectRestError(client.getSecret("nope"));
  eq([e?.name, e?.statusCode, e?.code], ["RestError", 404, "SecretNotFound"], "unknown secret: RestError 404 SecretNotFound");
  ok(e?.message?.startsWith("A secret with (name/id) nope was not found in this key vault."), "unknown secret: message", e?.message);
  const zero = "0".repeat(32);
  const e2 = await expectRestError(client.getSecret("cmk", { version: zero }));
  eq([e2?.statusCode, e2?.code], [404, "SecretNotFound"], "unknown version: 404 SecretNotFound");
  ok(e2?.message?.startsWith(`A secret with (name/id) cmk/${zero} was`), "unknown version: message names name/version", e2?.message);
});

for (const code of ["429", "503"]) {
  await step(`${code} with Retry-After is retried by the SDK`, async () => {
    await admin("POST", "faults", { path: "^/secrets/cmk/?$", action: code, retry_after: 1, count: 1 });
    await clearLog();
    const t0 = Date.now();
    const s = await client.getSecret("cmk");
    const ms = Date.now() - t0;
    eq(s.value, cmk[cmk.length - 1].value, `${code}: getSecret succeeds after the retry`);
    ok(ms >= 900, `${code}: the SDK waited Retry-After (1 s)`, `${ms} ms`);
    eq(readLog().map((e) => e.status), [Number(code), 200], `${code}: the emulator saw ${code} then 200`);
  });
}

await step("serviceVersion 7.4", async () => {
  const c74 = new SecretClient(KV_URL, credential, { ...clientOptions, serviceVersion: "7.4" });
  await clearLog();
  const s = await c74.getSecret("cmk", { version: cmk[0].id });
  eq(s.value, cmk[0].value, "api-version 7.4: getSecret");
  const kv = readLog().filter((e) => e.kind === "kv");
  ok(kv.length > 0 && kv.every((e) => /(^|&)api-version=7\.4(&|$)/.test(e.query)), "api-version 7.4: sent as such",
    JSON.stringify(kv.map((e) => e.query)));
});

await step("setSecret / updateSecretProperties (PUT, PATCH)", async () => {
  const fresh = new SecretClient(KV_URL, credential, clientOptions);
  await clearLog();
  const s = await fresh.setSecret("rotated", "fresh-value", { contentType: "text/plain" });
  ok(/^[0-9a-f]{32}$/.test(s.properties.version ?? ""), "setSecret: a new 32-hex version", s.properties.version);
  eq([s.value, s.properties.contentType], ["fresh-value", "text/plain"], "setSecret: value and contentType echoed");
  const log = readLog().filter((e) => e.method === "PUT");
  eq(log.map((e) => [e.auth, e.status]), [[false, 401], [true, 200]], "setSecret: challenge on the PUT, then the PUT with a token");
  const p = await fresh.updateSecretProperties("rotated", s.properties.version, { enabled: false });
  eq(p.enabled, false, "updateSecretProperties: enabled false");
  const e = await expectRestError(fresh.getSecret("rotated"));
  eq(e?.statusCode, 403, "updateSecretProperties: the secret now answers 403");
});

await step("expired token", async () => {
  await admin("POST", "tokens/expire");
  await clearLog();
  const e = await expectRestError(client.getSecret("cmk"));
  // keyvault-common 2.x answers the challenge from its token cache, so a token
  // the server expired early is sent twice and the 401 surfaces.
  eq([e?.name, e?.statusCode, e?.code], ["RestError", 401, "Unauthorized"], "expired token: RestError 401 Unauthorized");
  ok(e?.message?.includes("S2S12086"), "expired token: TokenExpired message", e?.message);
  const log = readLog();
  ok(log.length >= 1 && log.every((e) => e.status === 401 && e.auth), "expired token: each try was sent with a token and got 401");
  client = new SecretClient(KV_URL, credential, clientOptions);
  const s = await client.getSecret("cmk");
  eq(s.value, cmk[cmk.length - 1].value, "a new client (new token) reads again");
});

finish();
