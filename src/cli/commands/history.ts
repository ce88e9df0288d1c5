import type { Command } from 'commander';
import type { RunsAnswer, ServiceDetailAnswer } from '../api-types.js';
import { ExitCode } from '../exit-codes.js';
import { formatTime, shortCommit } from '../output.js';
import { addRemoteOptions, connect, parseIntegerIn, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

interface HistoryOptions extends RemoteOptions {
  limit: number;
  before?: string;
}

/** `history [service]`: the newest runs, or one service's deployments, a page at a time. */
export function registerHistoryCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('history [service]')
      .description("list the newest runs (GET /api/runs), or a service's deployments (GET /api/services/:name)")
      .option('--limit <n>', 'how many, from 1 to 200', parseIntegerIn(1, 200), 20)
      .option('--before <id>', 'the page before this run (or deployment) id, as printed at the end of the previous page'),
  ).action((service: string | undefined, options: HistoryOptions) =>
    runCommand(ctx, options, async (out) => {
      const client = connect(options, ctx.env);
      const query = { limit: options.limit, before: options.before };
      let next: string | null;
      if (service === undefined) {
        const answer = await client.get<RunsAnswer>('/api/runs', query);
        next = answer.next;
        if (out.json) out.printJson(answer);
        else if (answer.runs.length === 0) out.print('no runs yet');
        else
          out.table(
            ['RUN', 'STATUS', 'TRIGGER', 'ORIGIN', 'COMMIT', 'CREATED', 'DEPLOYMENTS'],
            answer.runs.map((r) => [r.id, out.status(r.status), r.service ? `${r.trigger} ${r.service}` : r.trigger, r.origin, shortCommit(r.commit), formatTime(r.createdAt), describeCounts(r.counts, r.error)]),
          );
      } else {
        const answer = await client.get<ServiceDetailAnswer>(`/api/services/${encodeURIComponent(service)}`, query);
        next = answer.next;
        if (out.json) out.printJson(answer);
        else if (answer.history.length === 0) out.print(`${service} has no deployments yet`);
        else
          out.table(
            ['DEPLOYMENT', 'RUN', 'ACTION', 'STATUS', 'COMMIT', 'STARTED', 'REASON'],
            answer.history.map((d) => [d.id, d.runId, d.action, out.status(d.status), shortCommit(d.commit), formatTime(d.startedAt ?? d.createdAt), `${d.reason}${d.error ? ` ${d.error.code}: ${d.error.message}` : ''}`]),
          );
      }
      if (next) out.progress(`older: gitops-deploy-server history${service === undefined ? '' : ` ${service}`} --before ${next}`);
      return ExitCode.ok;
    }),
  );
}

function describeCounts(counts: RunsAnswer['runs'][number]['counts'] | undefined, error: { code: string; message: string } | null): string {
  const parts = counts ? [`${counts.succeeded} ok`, ...(counts.failed ? [`${counts.failed} failed`] : []), ...(counts.skipped ? [`${counts.skipped} skipped`] : [])] : [];
  if (error) parts.push(`${error.code}: ${error.message}`);
  return parts.join(', ') || '-';
}
