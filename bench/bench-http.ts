// What the benchmarks share: one HTTP request helper and a runtime that deploys instantly (they
// measure the server's HTTP path and queue, not compose).
import http from 'node:http';
import type { Runtime, RuntimeRegistry } from '../src/ports/runtime.js';

export interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request on `agent` (keep-alive), resolving with the whole answer. */
export function request(agent: http.Agent, url: URL, method: string, route: string, headers: Record<string, string> = {}, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, method, path: route, headers, ...(localAddress ? { localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every deploy succeeds at once, or after `slow.ms` while it is set; `calls` counts them. */
export function benchRuntimes(slow: { ms: number } = { ms: 0 }): { runtimes: RuntimeRegistry; calls: { n: number } } {
  const calls = { n: 0 };
  const runtime = (kind: 'podman' | 'docker' | 'swarm'): Runtime => ({
    kind,
    async deploy() {
      calls.n += 1;
      if (slow.ms > 0) await new Promise((resolve) => setTimeout(resolve, slow.ms));
      return { images: { app: 'sha256:bench' }, gated: [] };
    },
    async update() {
      calls.n += 1;
      return { imagesBefore: {}, imagesAfter: {}, recreated: [], gated: [] };
    },
  });
  return { runtimes: { podman: runtime('podman'), docker: runtime('docker'), swarm: runtime('swarm') }, calls };
}
