// Benchmark: a flood of failed authentications from one address, and what it does to everyone
// else (issue 10).
//
//   node --import tsx bench/auth-flood.ts               # 100000 bad requests, 50 in flight
//   node --import tsx bench/auth-flood.ts 20000 20      # other count / concurrency
//
// The real server (startServer + loadConfig, the failed-auth limit at its default) runs in this
// process on 127.0.0.1 over a small real environment repository; the runtime registry is an
// instant fake. The flood sends POST /deploy-all-changed with a wrong X-Hub-Signature-256 from
// 127.0.0.1 and counts the answers (401 before the limit, 429 with Retry-After after it).
// Meanwhile valid signed webhooks come one at a time from another address (the client socket
// bound to 127.0.0.2, still loopback), and their latency is measured: first alone (baseline),
// then during the flood. RSS is this process's, which holds the server and the client; it is
// read before, right after, and after a GC when `--expose-gc` is given. Figures only.
import http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { startBenchServer } from './bench-server.js';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';
import { signBody } from '../src/webhook/signature.js';
import { EnvRepo } from '../test/e2e/harness.js';
import { median, ms, percentile } from './stats.js';

const SECRET = 'bench-webhook-secret-0123456789';
const FLOOD = Number(process.argv[2] ?? 100_000);
const CONCURRENCY = Number(process.argv[3] ?? 50);
const BASELINE = 500;
const ATTACKER = '127.0.0.1';
const FORGE = '127.0.0.2';

function instantRuntimes(): RuntimeRegistry {
  const runtime = (kind: 'podman' | 'docker'): Runtime => ({
    kind,
    async deploy() {
      return { images: { app: 'sha256:bench' }, gated: [] };
    },
    async update() {
      return { imagesBefore: {}, imagesAfter: {}, recreated: [], gated: [] };
    },
  });
  return { podman: runtime('podman'), docker: runtime('docker') };
}

function post(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, method: 'POST', path: '/deploy-all-changed', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)}MiB`;
const rss = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss;
};

async function main(): Promise<void> {
  const env = new EnvRepo();
  env.write('services/app/podman-compose.yml', 'services:\n  app:\n    image: localhost/busybox:test\n');
  env.push('one service');
  const { server, dispose } = await startBenchServer({ env, runtimes: instantRuntimes(), webhookSecret: SECRET });
  const url = new URL(server.url);
  const valid = { 'x-hub-signature-256': signBody(server.webhookSecret, new Uint8Array()), 'content-length': '0' };
  const forged = { 'x-hub-signature-256': signBody('not-the-secret', new Uint8Array()), 'content-length': '0' };

  // Both agents keep their connections; each binds its sockets to its own source address.
  const forge = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: FORGE });
  const attacker = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY, localAddress: ATTACKER });

  /** Valid webhooks one at a time until `until()` says stop (or `count` were sent). */
  const validLoop = async (until: () => boolean, count = Infinity) => {
    const latencies: number[] = [];
    const statuses: Record<number, number> = {};
    while (!until() && latencies.length < count) {
      const a = performance.now();
      const answer = await post(forge, url, valid);
      latencies.push(performance.now() - a);
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    }
    return { latencies, statuses };
  };
  const describe = (label: string, r: { latencies: number[]; statuses: Record<number, number> }) =>
    `auth-flood valid ${label.padEnd(8)} from ${FORGE}: n=${r.latencies.length} p50=${ms(median(r.latencies))} p99=${ms(percentile(r.latencies, 99))} ` +
    `max=${ms(Math.max(...r.latencies))} answers=${JSON.stringify(r.statuses)}`;

  try {
    await validLoop(() => false, 50); // warm-up: the first run deploys the service
    const rssBefore = rss();
    const baseline = await validLoop(() => false, BASELINE);
    console.log(describe('baseline', baseline));

    const statuses: Record<number, number> = {};
    const retryAfter = new Set<string>();
    let sent = 0;
    let done = false;
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const started = performance.now();
    const worker = async () => {
      while (sent < FLOOD) {
        sent += 1;
        const answer = await post(attacker, url, forged);
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
        if (answer.retryAfter !== undefined) retryAfter.add(answer.retryAfter);
      }
    };
    const flood = Promise.all(Array.from({ length: CONCURRENCY }, worker)).then(() => void (done = true));
    const during = validLoop(() => done);
    await flood;
    const wall = performance.now() - started;
    loop.disable();
    const duringFlood = await during;
    const rssAfter = process.memoryUsage().rss;
    const rssAfterGc = rss();

    console.log(
      `auth-flood bad requests from ${ATTACKER}: n=${FLOOD} concurrency=${CONCURRENCY} in ${(wall / 1000).toFixed(1)}s ` +
        `(${((FLOOD / wall) * 1000).toFixed(0)} req/s) answers=${JSON.stringify(statuses)} 429s=${statuses[429] ?? 0} ` +
        `retry-after values seen=${retryAfter.size === 0 ? 'none' : [...retryAfter].sort((a, b) => Number(a) - Number(b)).slice(0, 5).join(',')}`,
    );
    console.log(describe('flood', duringFlood));
    console.log(
      `auth-flood memory: rss before=${mib(rssBefore)} after=${mib(rssAfter)}${(globalThis as { gc?: unknown }).gc ? ` after-gc=${mib(rssAfterGc)}` : ''} ` +
        `event-loop delay during flood p99=${ms(loop.percentile(99) / 1e6)} max=${ms(loop.max / 1e6)}`,
    );
    if ((statuses[429] ?? 0) === 0) console.log('auth-flood note: no 429 seen: the failed-auth limiter is not wired into the webhook routes in this build');
  } finally {
    forge.destroy();
    attacker.destroy();
    await dispose();
    env.dispose();
  }
}

await main();
