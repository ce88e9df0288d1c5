// Smoke test: the backends started by scripts/start-test-engines.sh answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { loadTestEngines, SKIP_NO_ENGINES } from "./engines.js";

// Locally a missing engine skips with the fix; under CI=true the tests run and fail.
const engines = loadTestEngines();

function httpGet(
  opts: { socketPath?: string; host?: string; port?: number; path: string; auth?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...opts, method: "GET", timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout GET ${opts.path}`)));
    req.on("error", reject);
    req.end();
  });
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

test("podman API and private dockerd answer _ping", { skip: engines || process.env["CI"] ? false : SKIP_NO_ENGINES }, async () => {
  assert.ok(engines);
  for (const socketPath of [engines.podmanSocket, engines.dockerSocket]) {
    const r = await httpGet({ socketPath, path: "/_ping" });
    assert.equal(r.status, 200, socketPath);
    assert.equal(r.body, "OK", socketPath);
  }
});

test("busybox test image is in both engines", { skip: engines || process.env["CI"] ? false : SKIP_NO_ENGINES }, async () => {
  assert.ok(engines);
  const name = encodeURIComponent(engines.busyboxImage);
  for (const socketPath of [engines.podmanSocket, engines.dockerSocket]) {
    const r = await httpGet({ socketPath, path: `/v1.41/images/${name}/json` });
    assert.equal(r.status, 200, `${socketPath}: ${r.body}`);
  }
});

test("registries: open answers, auth one needs credentials", { skip: engines || process.env["CI"] ? false : SKIP_NO_ENGINES }, async () => {
  assert.ok(engines);
  const open = await httpGet({ ...hostPort(engines.registryOpen), path: "/v2/" });
  assert.equal(open.status, 200);
  const anon = await httpGet({ ...hostPort(engines.registryAuth), path: "/v2/" });
  assert.equal(anon.status, 401);
  const authed = await httpGet({
    ...hostPort(engines.registryAuth),
    path: "/v2/",
    auth: `${engines.registryAuthUser}:${engines.registryAuthPassword}`,
  });
  assert.equal(authed.status, 200);
});
