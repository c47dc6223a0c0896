// SPDX-License-Identifier: MIT
// Fidelity check: Microsoft's own @azure/keyvault-keys KeyClient and
// CryptographyClient against the cmkfs Key Vault emulator (../kv_emulator.py).
// Run by ../test_azure_sdk.sh after check.mjs, with the same environment:
//   KV_URL        https://127.0.0.1:PORT (the vault)
//   KV_ADMIN      http://127.0.0.1:PORT/_emulator (admin API, plain HTTP)
//   KV_LOG        the emulator's request log (JSON lines)
//   KV_CONFIG     the emulator's config ("keys"."cmk-key" has 5 versions)
//   KV_TENANT, KV_CLIENT_ID, KV_CLIENT_SECRET
//   NODE_EXTRA_CA_CERTS   the throwaway test CA
// Prints "ok - ..." / "not ok - ..." lines and exits 1 if any failed.
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { env as envOf, harness } from "./harness.mjs";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const env = (name) => envOf(name, "check_keys.mjs");
const KV_URL = env("KV_URL");
const CLIENT_ID = env("KV_CLIENT_ID");
const config = JSON.parse(readFileSync(env("KV_CONFIG"), "utf8"));
const cmkKey = config.keys["cmk-key"].versions;
const SCOPE = "https://vault.azure.net/.default";
const HEX32 = /^[0-9a-f]{32}$/;

const { ok, eq, step, expectRestError, admin, clearLog, readLog, finish, fetchToken } = harness(
  "check_keys.mjs",
  60000,
);
const kvLog = () => readLog().filter((e) => e.kind === "kv");
const b64url = (buf) => Buffer.from(buf).toString("base64url");

// The client-credentials token of the emulator's identity platform endpoint,
// fetched on every getToken call (as in check.mjs).
const credential = {
  getToken: async () => {
    const { status, body } = await fetchToken(SCOPE);
    if (status !== 200) throw new Error(`token endpoint: ${status} ${JSON.stringify(body)}`);
    return { token: body.access_token, expiresOnTimestamp: Date.now() + body.expires_in * 1000 };
  },
};
// A token of another principal, minted by the admin API (for RBAC).
function mintedCredential(appid) {
  return {
    getToken: async () => {
      const t = await admin("POST", "tokens", { audience: "https://vault.azure.net", appid });
      return { token: t.access_token, expiresOnTimestamp: t.expires_on * 1000 };
    },
  };
}
const clientOptions = {
  disableChallengeResourceVerification: true,
  retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 5000 },
};
const client = new KeyClient(KV_URL, credential, clientOptions);
const plaintext = randomBytes(32);

let key2048;
await step("createRsaKey 2048 / 3072", async () => {
  await clearLog();
  key2048 = await client.createRsaKey("sdk-rsa-2048", { keySize: 2048 });
  eq([key2048.name, key2048.keyType, key2048.key?.n?.length, Buffer.from(key2048.key?.e ?? []).toString("hex")],
    ["sdk-rsa-2048", "RSA", 256, "010001"], "createRsaKey(2048): name, keyType, 256-byte n, e 65537");
  ok(HEX32.test(key2048.properties.version ?? ""), "createRsaKey(2048): a 32-hex version", key2048.properties.version);
  eq(key2048.properties.vaultUrl, KV_URL, "createRsaKey(2048): vaultUrl parsed from the kid");
  eq(key2048.keyOperations, ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
    "createRsaKey(2048): Key Vault's default key_ops");
  eq([key2048.properties.enabled, key2048.properties.recoveryLevel, key2048.properties.recoverableDays,
    key2048.properties.exportable], [true, "Recoverable+Purgeable", 90, false],
  "createRsaKey(2048): enabled, recoveryLevel, recoverableDays, exportable");
  const log = kvLog();
  eq(log.map((e) => [e.method, e.path, e.auth, e.status]),
    [["POST", "/keys/sdk-rsa-2048/create", false, 401], ["POST", "/keys/sdk-rsa-2048/create", true, 200]],
    "createRsaKey: the challenge on the POST, then the POST with a token");
  ok(log.every((e) => /(^|&)api-version=2025-07-01(&|$)/.test(e.query)), "keys: default api-version 2025-07-01",
    JSON.stringify(log.map((e) => e.query)));
  const k3 = await client.createRsaKey("sdk-rsa-3072", { keySize: 3072, keyOps: ["wrapKey", "unwrapKey"] });
  eq([k3.key?.n?.length, k3.keyOperations], [384, ["wrapKey", "unwrapKey"]], "createRsaKey(3072): 384-byte n, keyOps");
});

await step("getKey", async () => {
  const k = await client.getKey("sdk-rsa-2048");
  eq([k.id, Buffer.from(k.key.n).equals(Buffer.from(key2048.key.n))], [key2048.id, true], "getKey: same id and n as created");
  const kv = await client.getKey("sdk-rsa-2048", { version: key2048.properties.version });
  eq(kv.properties.version, key2048.properties.version, "getKey(version)");
  const e = await expectRestError(client.getKey("nope"));
  eq([e?.name, e?.statusCode, e?.code], ["RestError", 404, "KeyNotFound"], "getKey(unknown): RestError 404 KeyNotFound");
  ok(e?.message?.startsWith("A key with (name/id) nope was not found in this key vault."), "getKey(unknown): message", e?.message);
});

await step("listPropertiesOfKeyVersions across pages", async () => {
  await clearLog();
  const ids = [];
  for await (const p of client.listPropertiesOfKeyVersions("cmk-key")) {
    ids.push(p.version);
    if (ids.length > 50) break;
  }
  eq([...ids].sort(), cmkKey.map((v) => v.id).sort(), "list key versions: all 5 versions, once each");
  const log = kvLog().filter((e) => e.path === "/keys/cmk-key/versions");
  eq(log.map((e) => e.query.includes("$skiptoken=")), [false, true, true],
    "list key versions: 3 pages of page_size 2, the SDK followed nextLink");
  const sizes = [];
  await clearLog();
  for await (const page of client.listPropertiesOfKeyVersions("cmk-key").byPage({ maxPageSize: 1 })) {
    sizes.push(page.length);
    if (sizes.length > 10) break;
  }
  eq(sizes, [1, 1, 1, 1, 1], "byPage(maxPageSize 1): pages of 1");
  ok(kvLog().filter((e) => e.path === "/keys/cmk-key/versions").every((e) => /(^|&)maxresults=1(&|$)/.test(e.query)),
    "byPage(maxPageSize 1): every page request carries maxresults=1");
  const disabled = [];
  for await (const p of client.listPropertiesOfKeyVersions("cmk-key")) if (!p.enabled) disabled.push(p.version);
  eq(disabled, cmkKey.filter((v) => v.enabled === false).map((v) => v.id), "list key versions: the disabled version, enabled false");
  const names = [];
  for await (const p of client.listPropertiesOfKeys()) names.push(p.name);
  eq(names.sort(), ["cmk-key", "sdk-rsa-2048", "sdk-rsa-3072"], "listPropertiesOfKeys: every key");
});

let crypto2048;
await step("CryptographyClient wrapKey / unwrapKey RSA-OAEP-256", async () => {
  crypto2048 = new CryptographyClient(key2048.id, credential, clientOptions);
  await clearLog();
  const wrapped = await crypto2048.wrapKey("RSA-OAEP-256", plaintext);
  eq([wrapped.result.length, wrapped.keyID, wrapped.algorithm], [256, key2048.id, "RSA-OAEP-256"],
    "wrapKey(RSA-OAEP-256): 256-byte result, keyID is the versioned kid");
  const unwrapped = await crypto2048.unwrapKey("RSA-OAEP-256", wrapped.result);
  ok(Buffer.from(unwrapped.result).equals(plaintext), "unwrapKey(RSA-OAEP-256): the 32 bytes back");
  const log = kvLog().map((e) => [e.method, e.path, e.status]);
  const vpath = `/keys/sdk-rsa-2048/${key2048.properties.version}`;
  ok(log.some(([m, p, s]) => m === "POST" && p === `${vpath}/unwrapkey` && s === 200),
    "unwrapKey went to the emulator (POST .../unwrapkey 200 in the log)", JSON.stringify(log));
  ok(log.some(([m, p, s]) => m === "POST" && p === `${vpath}/wrapkey` && s === 200),
    "wrapKey(RSA-OAEP-256) went to the emulator too (the SDK wraps only RSA-OAEP/RSA1_5 locally)", JSON.stringify(log));
  // Wrapped by Node's OpenSSL with the public JWK of getKey, unwrapped by the vault.
  const pub = createPublicKey({
    key: { kty: "RSA", n: b64url(key2048.key.n), e: b64url(key2048.key.e) },
    format: "jwk",
  });
  const local = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, plaintext);
  const u2 = await crypto2048.unwrapKey("RSA-OAEP-256", local);
  ok(Buffer.from(u2.result).equals(plaintext), "unwrapKey of a value wrapped locally with the key's n/e (Node crypto)");
  // RSA-OAEP: the SDK wraps locally with the fetched public key.
  await clearLog();
  const w1 = await crypto2048.wrapKey("RSA-OAEP", plaintext);
  const u1 = await crypto2048.unwrapKey("RSA-OAEP", w1.result);
  ok(Buffer.from(u1.result).equals(plaintext), "wrapKey(RSA-OAEP) then unwrapKey: round trip");
  const paths = kvLog().map((e) => e.path.split("/").pop());
  ok(!paths.includes("wrapkey") && paths.includes("unwrapkey"),
    "RSA-OAEP: wrapped locally by the SDK, unwrapped by the emulator", JSON.stringify(paths));
  const c3 = client.getCryptographyClient("sdk-rsa-3072");
  const w3 = await c3.wrapKey("RSA-OAEP-256", plaintext);
  const u3 = await c3.unwrapKey("RSA-OAEP-256", w3.result);
  ok(w3.result.length === 384 && Buffer.from(u3.result).equals(plaintext), "3072-bit key: wrap/unwrap round trip");
});

await step("updateKeyProperties (disable) -> unwrapKey 403", async () => {
  const wrapped = await crypto2048.wrapKey("RSA-OAEP-256", plaintext);
  const p = await client.updateKeyProperties("sdk-rsa-2048", key2048.properties.version, { enabled: false });
  eq(p.properties.enabled, false, "updateKeyProperties: enabled false");
  const k = await client.getKey("sdk-rsa-2048");
  eq(k.properties.enabled, false, "getKey of a disabled key still succeeds (enabled false)");
  const fresh = new CryptographyClient(key2048.id, credential, clientOptions);
  await clearLog();
  const e = await expectRestError(fresh.unwrapKey("RSA-OAEP-256", wrapped.result));
  eq([e?.name, e?.statusCode, e?.code], ["RestError", 403, "Forbidden"], "unwrapKey on a disabled key: RestError 403 Forbidden");
  eq(e?.message, "Operation unwrapKey is not allowed on a disabled key.", "unwrapKey on a disabled key: message");
  eq(e?.details?.error?.innerError?.code, "KeyDisabled", "unwrapKey on a disabled key: innererror KeyDisabled");
  ok(kvLog().some((x) => x.method === "POST" && x.path.endsWith("/unwrapkey") && x.status === 403),
    "the 403 came from the emulator");
  await client.updateKeyProperties("sdk-rsa-2048", key2048.properties.version, { enabled: true });
});

await step("rotateKey", async () => {
  const r = await client.rotateKey("sdk-rsa-2048");
  ok(HEX32.test(r.properties.version ?? "") && r.properties.version !== key2048.properties.version,
    "rotateKey: a new version", r.properties.version);
  eq([r.keyType, r.key?.n?.length, r.keyOperations], ["RSA", 256, key2048.keyOperations], "rotateKey: same kty, size, key_ops");
  const k = await client.getKey("sdk-rsa-2048");
  eq(k.properties.version, r.properties.version, "rotateKey: the new version is current");
});

await step("beginDeleteKey / beginRecoverDeletedKey", async () => {
  await admin("POST", "settings", { delete_delay: 0.6, recover_delay: 0.6 });
  await clearLog();
  const poller = await client.beginDeleteKey("sdk-rsa-3072", { intervalInMs: 150 });
  const deleted = await poller.pollUntilDone();
  eq([deleted.name, deleted.properties.recoveryId, typeof deleted.properties.deletedOn?.getTime(),
    typeof deleted.properties.scheduledPurgeDate?.getTime()],
  ["sdk-rsa-3072", `${KV_URL}/deletedkeys/sdk-rsa-3072`, "number", "number"],
  "beginDeleteKey: DeletedKey with recoveryId, deletedOn, scheduledPurgeDate");
  const polls = kvLog().filter((e) => e.method === "GET" && e.path === "/deletedkeys/sdk-rsa-3072").map((e) => e.status);
  ok(polls.length >= 2 && polls[0] === 404 && polls[polls.length - 1] === 200,
    "beginDeleteKey: polled GET /deletedkeys/{name} (404 while deleting, then 200)", JSON.stringify(polls));
  const e = await expectRestError(client.getKey("sdk-rsa-3072"));
  eq([e?.statusCode, e?.code], [404, "KeyNotFound"], "deleted key: getKey 404 KeyNotFound");
  const d = await client.getDeletedKey("sdk-rsa-3072");
  eq(d.properties.recoveryId, `${KV_URL}/deletedkeys/sdk-rsa-3072`, "getDeletedKey");
  const c = await expectRestError(client.createRsaKey("sdk-rsa-3072"));
  eq([c?.statusCode, c?.code], [409, "Conflict"], "createRsaKey over a deleted name: 409 Conflict");
  await clearLog();
  const rp = await client.beginRecoverDeletedKey("sdk-rsa-3072", { intervalInMs: 150 });
  const rec = await rp.pollUntilDone();
  eq([rec.name, rec.key?.n?.length], ["sdk-rsa-3072", 384], "beginRecoverDeletedKey: the key is back");
  const gets = kvLog().filter((e) => e.method === "GET" && e.path.startsWith("/keys/sdk-rsa-3072")).map((e) => e.status);
  ok(gets.length >= 2 && gets[0] === 404 && gets[gets.length - 1] === 200,
    "beginRecoverDeletedKey: polled GET /keys/{name} (404 while recovering, then 200)", JSON.stringify(gets));
  await admin("POST", "settings", { delete_delay: 0, recover_delay: 0 });
});

await step("RBAC (ForbiddenByRbac)", async () => {
  await admin("POST", "rbac", { principal: CLIENT_ID, actions: ["Key Vault Crypto Officer"] });
  await admin("POST", "rbac", { principal: "cmkfs-sdk-limited", actions: ["Microsoft.KeyVault/vaults/keys/unwrap/action"] });
  try {
    // crypto2048 (the Crypto Officer) is bound to the first version of the key
    const wrapped = await crypto2048.wrapKey("RSA-OAEP-256", plaintext);
    const limitedV = new CryptographyClient(key2048.id, mintedCredential("cmkfs-sdk-limited"), clientOptions);
    // version-less: the SDK sends POST /keys/{name}//wrapkey
    const limited = new CryptographyClient(`${KV_URL}/keys/sdk-rsa-2048`,
      mintedCredential("cmkfs-sdk-limited"), clientOptions);
    await clearLog();
    const u = await limitedV.unwrapKey("RSA-OAEP-256", wrapped.result);
    ok(Buffer.from(u.result).equals(plaintext), "unwrap-only principal: unwrapKey works");
    const log = kvLog().map((e) => [e.method, e.path.split("/").length > 4 ? e.path.split("/").pop() : "key", e.status]);
    ok(log.some(([m, , s]) => m === "GET" && s === 403) && log.some(([m, p, s]) => m === "POST" && p === "unwrapkey" && s === 200),
      "unwrap-only principal: GET key 403 (the SDK falls back to remote), unwrapkey 200", JSON.stringify(log));
    const e = await expectRestError(limited.wrapKey("RSA-OAEP-256", plaintext));
    eq([e?.name, e?.statusCode, e?.code], ["RestError", 403, "Forbidden"], "unwrap-only principal: wrapKey RestError 403 Forbidden");
    eq(e?.details?.error?.innerError?.code, "ForbiddenByRbac", "unwrap-only principal: innererror ForbiddenByRbac");
    ok(e?.message?.startsWith("Caller is not authorized to perform action on resource.\r\n") &&
      e.message.includes("Action: 'Microsoft.KeyVault/vaults/keys/wrap/action'\r\n"),
    "unwrap-only principal: Key Vault's RBAC message", e?.message);
    ok(wrapped.result.length === 256, "the Crypto Officer principal still wraps");
  } finally {
    await admin("POST", "rbac", { enabled: false });
  }
});

finish();
