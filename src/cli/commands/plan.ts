import type { Command } from 'commander';
import type { PlanAnswer } from '../api-types.js';
import { ExitCode } from '../exit-codes.js';
import { shortCommit } from '../output.js';
import { addRemoteOptions, connect, type RemoteOptions } from '../remote.js';
import { runCommand, type CliContext } from '../run-command.js';

const DECISION_ORDER = ['deploy', 'problem', 'self', 'unchanged'];

/** `plan`: what a deploy of the remote head would do, service by service, without changing anything. */
export function registerPlanCommand(program: Command, ctx: CliContext): void {
  addRemoteOptions(
    program
      .command('plan')
      .description('show what `deploy` would do now: fetches the remote head and decides per service, changing nothing (POST /api/plan)'),
    // Planning fetches from the remote first: allow for a slow git host.
    { timeoutSeconds: 300 },
  ).action((options: RemoteOptions) =>
    runCommand(ctx, options, async (out) => {
      const client = connect(options, ctx.env);
      out.progress('fetching and planning…');
      const plan = await client.post<PlanAnswer>('/api/plan', { timeoutMs: options.timeout * 1000 });
      if (out.json) {
        out.printJson(plan);
        return ExitCode.ok;
      }
      const moving = plan.currentCommit && plan.currentCommit !== plan.commit ? ` (the checkout is at ${shortCommit(plan.currentCommit)})` : '';
      out.print(`remote head ${shortCommit(plan.commit)}${moving}`);
      const rows = [...plan.services]
        .sort((a, b) => DECISION_ORDER.indexOf(a.decision) - DECISION_ORDER.indexOf(b.decision) || a.service.localeCompare(b.service))
        .map((s) => [s.service, out.status(s.decision), s.reason || '-']);
      if (rows.length > 0) out.table(['SERVICE', 'DECISION', 'REASON'], rows);
      const counts = DECISION_ORDER.map((decision) => `${plan.counts[decision] ?? 0} ${decision === 'deploy' ? 'to deploy' : decision}`);
      out.print(counts.join(', '));
      // Which compose tool and version runs which services (`--json` has it per service).
      const byTool = new Map<string, string[]>();
      for (const s of plan.services) if (s.tool) byTool.set(s.tool, [...(byTool.get(s.tool) ?? []), s.service]);
      for (const [tool, names] of byTool) out.print(`${tool}: ${names.sort().join(', ')}`);
      return ExitCode.ok;
    }),
  );
}
