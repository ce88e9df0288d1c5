// The proof of issue 9: a repository built like a real self-hosted one (fixtures/real-repository.ts)
// goes through the whole life of its services on real engines, with both tool generations.
//
// To keep the file within ~5 minutes on two cores, each engine runs the full scenario list with
// one generation and a shorter list (first deploy, tag bump, port change) with the other; every
// generation thereby gets the full list once:
//   Podman:  podman-compose 1.0.3 (Debian 12) full,  podman-compose 1.3 short;
//   dockerd: Compose v2 (`docker compose`) full,     docker-compose 1.29 short.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import type { TestEngines } from './engines/engines.js';
import {
  ARCHIVE_SECRETS,
  WEB_GREETING,
  acmePath,
  buildAndPush,
  bumpAppTag,
  enginePulls,
  notesDbContainerName,
  notesResources,
  registryLogLines,
  setWebPort,
  toolOf,
  writeRealRepository,
  type Engine,
  type PushedImage,
  type RealRepositoryOptions,
} from './fixtures/real-repository.js';
import {
  E2E_API_TOKEN,
  EnvRepo,
  TestServer,
  containerEnv,
  deploymentOf,
  freePort,
  projectContainers,
  removeProject,
  requireEngines,
  requireToolGeneration,
  sh,
  stepper,
  summary,
  uid,
  waitForHttp,
  type Container,
  type RunView,
  type ToolGeneration,
} from './harness.js';

interface Suite {
  engine: Engine;
  generation: ToolGeneration;
  full: boolean;
}

const SUITES: Suite[] = [
  { engine: 'podman', generation: 'debian12', full: true },
  { engine: 'podman', generation: 'current', full: false },
  { engine: 'docker', generation: 'current', full: true },
  { engine: 'docker', generation: 'debian12', full: false },
];

/** Container ids by project, then by compose service. */
type Snapshot = Record<string, Record<string, string>>;

// The two engines share nothing, so their chains run side by side; within a chain the
// generations take turns (their servers would otherwise compete for the same engine).
describe('issue 9 proof: a repository built like a real one', { concurrency: 2 }, () => {
  for (const engine of ['podman', 'docker'] as const) {
    test(`on ${engine}`, { timeout: 420_000 }, async (t) => {
      const engines = requireEngines(t);
      if (!engines) return;
      for (const suite of SUITES.filter((s) => s.engine === engine)) {
        const tool = toolOf(suite.engine, suite.generation);
        await t.test(`${tool} (${suite.full ? 'every scenario' : 'deploy, tag bump, port change'})`, (st) => runSuite(st, engines, suite));
      }
    });
  }
});

async function runSuite(t: TestContext, engines: TestEngines, suite: Suite): Promise<void> {
  const { engine } = suite;
  const tool = toolOf(engine, suite.generation);
  const id = uid();
  const env: Record<string, string> = engine === 'docker' ? { DOCKER_HOST: engines.dockerHost } : {};
  // Compose v2 runs as the `docker compose` plugin, the way most Docker users run it.
  const tools = requireToolGeneration(t, suite.generation, engine === 'docker' && suite.generation === 'current' ? 'plugin' : 'standalone');
  if (!tools) return;
  const appRepository = `${engines.registryOpen}/gds-proof/app-${id}`;
  /** Every image pushed: the engine's copies are removed at the end (by tag and by id, tags move). */
  const pushed: PushedImage[] = [];
  const push = async (reference: string, version: string) => {
    const image = await buildAndPush(engines, reference, version);
    pushed.push(image);
    return image;
  };
  const app10 = await push(`${appRepository}:1.0`, `app-1.0-${id}`);
  const app11 = await push(`${appRepository}:1.1`, `app-1.1-${id}`);
  const pinnedImage = await push(`${engines.registryOpen}/gds-proof/pinned-${id}:1.0`, `pinned-${id}`);
  const options: RealRepositoryOptions = {
    engine,
    id,
    engines,
    notesPort: await freePort(),
    webPort: await freePort(),
    appRepository,
    appTag: '1.0',
    pinnedReference: `${pinnedImage.reference}@${pinnedImage.manifestDigest}`,
  };
  const repo = new EnvRepo();
  const stacks = writeRealRepository(repo, options);
  const projects = Object.values(stacks) as string[];
  repo.push('self-hosted services');

  const server = await TestServer.start({
    checkout: repo.checkout,
    env: {
      ...env,
      ...tools.env,
      // A tool that hangs (podman-compose 1.3 waiting for a condition Podman 4.3 cannot report)
      // fails its deployment within a minute instead of holding the suite for the default 15.
      COMPOSE_TIMEOUT_SECONDS: '60',
      // The full list proves drift and healing, and a burst within the debounce window.
      ...(suite.full ? { DRIFT_CHECK_SECONDS: '1', SELF_HEAL: 'true', UPDATE_DEBOUNCE_SECONDS: '3' } : {}),
    },
  });
  t.after(async () => {
    await server.close();
    for (const project of projects) removeProject(engine, project, env);
    const { volume, network } = notesResources(stacks);
    const cleanup: string[][] = [
      ['network', 'rm', engine === 'podman' ? '-f' : '--force', network],
      ['volume', 'rm', '-f', volume],
      ...pushed.flatMap((image) => [['rmi', '-f', image.reference], ['rmi', '-f', image.imageId]]),
    ];
    for (const args of cleanup) {
      try {
        sh(engine, args, { env });
      } catch {
        // Gone already (the prune step removes the network).
      }
    }
    server.dispose();
    repo.dispose();
    tools.dispose();
  });

  const step = stepper(t);
  const containers = (project: string): Container[] => projectContainers(engine, project, env);
  /** Every project's containers, each running. */
  const snapshot = (): Snapshot => {
    const all: Snapshot = {};
    for (const project of projects) {
      all[project] = {};
      for (const c of containers(project)) {
        assert.equal(c.state, 'running', `${project}/${c.service} is ${c.state}`);
        all[project]![c.service] = c.id;
      }
    }
    return all;
  };
  const only = (project: string, service: string): Container => {
    const found = containers(project).filter((c) => c.service === service);
    assert.equal(found.length, 1, `one ${service} container in ${project}: ${JSON.stringify(found)}`);
    return found[0]!;
  };
  const exec = (c: Container, ...args: string[]) => sh(engine, ['exec', c.id, ...args], { env });
  /**
   * Debian 12's tools cannot run a long-syntax env_file (podman-compose 1.0.3 crashes on it,
   * docker-compose 1.29 rejects it): there the server must refuse archive, naming the construct
   * and the tool, before anything is touched. The current tools run it.
   */
  const refusals: Record<string, string> =
    suite.generation === 'debian12'
      ? { [stacks.archive]: 'long-syntax env_file' }
      : // podman-compose 1.3 waits for a healthy dependency with a podman wait that Podman 4.3 rejects (it would hang).
        engine === 'podman' ? { [stacks.notes]: 'depends_on condition service_healthy' } : {};
  const refused = Object.keys(refusals);
  const assertRefused = (d: RunView['deployments'][number]) => {
    assert.equal(d.status, 'failed', `${d.service} is refused with ${tool}: ${d.status} ${d.output.slice(-500)}`);
    assert.equal(d.error?.code, 'COMPOSE_UNSUPPORTED', JSON.stringify(d.error));
    assert.ok(d.error!.message.includes(tool) && d.error!.message.includes(refusals[d.service]!), d.error!.message);
  };
  /** The services a run deployed; every one succeeded, but those the tools refuse. */
  const deployedServices = (run: RunView) => {
    for (const d of run.deployments) {
      if (refused.includes(d.service)) assertRefused(d);
      else assert.equal(d.status, 'succeeded', summary(run));
    }
    assert.equal(run.status, run.deployments.some((d) => d.status !== 'succeeded') ? 'failed' : 'succeeded', summary(run));
    return run.deployments.filter((d) => !refused.includes(d.service)).map((d) => d.service).sort();
  };
  /** A push and the deploy-all its webhook starts. */
  const pushAndDeploy = async (message: string): Promise<RunView> => {
    repo.push(message);
    return server.deployAll();
  };
  /** The ids after a step equal those before it, except the services named (project/service). */
  const assertUnchangedExcept = (before: Snapshot, after: Snapshot, changed: string[], gone: string[] = []) => {
    for (const [project, services] of Object.entries(before)) {
      if (gone.includes(project)) continue;
      for (const [service, containerId] of Object.entries(services)) {
        if (changed.includes(`${project}/${service}`)) assert.notEqual(after[project]?.[service], containerId, `${project}/${service} was recreated`);
        else assert.equal(after[project]?.[service], containerId, `${project}/${service} was left alone`);
      }
    }
  };
  const portRefused = async (port: number) => {
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) }), `nothing answers on ${port} any more`);
  };

  let ids: Snapshot = {};
  let webPort = options.webPort;

  await step('1. first deploy: every stack runs (secrets, healthcheck, volume, network, ports), or the tool\'s refusal is named before anything is touched', async () => {
    // Before anything is touched, the plan (against the remote head) names the tool and version
    // that will run each service, and the refusal with the construct.
    const plan = (await (await fetch(`${server.url}/api/plan`, { method: 'POST', headers: { authorization: `Bearer ${E2E_API_TOKEN}` } })).json()) as {
      services: Array<{ service: string; decision: string; reason: string; tool?: string }>;
    };
    for (const project of projects) {
      const entry = plan.services.find((p) => p.service === project);
      assert.equal(entry?.tool, tool, `${project}: ${JSON.stringify(entry)}`);
      if (!refused.includes(project)) assert.equal(entry.decision, 'deploy', JSON.stringify(entry));
      else {
        assert.equal(entry.decision, 'problem', JSON.stringify(entry));
        assert.ok(entry.reason.includes('COMPOSE_UNSUPPORTED') && entry.reason.includes(tool) && entry.reason.includes(refusals[project]!), entry.reason);
      }
    }
    const run = await server.deployAll();
    assert.deepEqual(deployedServices(run), projects.filter((p) => !refused.includes(p)).sort(), summary(run));
    for (const project of refused) assertRefused(deploymentOf(run, project));
    ids = snapshot();
    assert.deepEqual(
      Object.fromEntries(Object.entries(ids).map(([p, s]) => [p, Object.keys(s).sort()])),
      {
        [stacks.notes]: refused.includes(stacks.notes) ? [] : ['db', 'web'],
        [stacks.proxy]: ['proxy'],
        [stacks.archive]: refused.includes(stacks.archive) ? [] : ['archive'],
        [stacks.web]: ['web'],
        [stacks.pinned]: ['pinned'],
        [stacks.app]: ['app', 'worker'],
      },
    );

    // notes: container_name, a healthy db, the named volume and the custom network, the port (or refused: above).
    if (!refused.includes(stacks.notes)) {
      const db = only(stacks.notes, 'db');
      assert.equal(db.name, notesDbContainerName(id));
      assert.equal(sh(engine, ['container', 'inspect', '--format', '{{.State.Health.Status}}', db.id], { env }), 'healthy');
      const { volume, network } = notesResources(stacks);
      assert.equal(sh(engine, ['volume', 'inspect', '--format', '{{.Name}}', volume], { env }), volume);
      assert.equal(exec(db, 'cat', '/var/lib/notes/ready'), 'ready', 'the db writes into its named volume');
      for (const c of containers(stacks.notes)) {
        const networks = JSON.parse(sh(engine, ['container', 'inspect', '--format', '{{json .NetworkSettings.Networks}}', c.id], { env })) as Record<string, unknown>;
        assert.ok(Object.keys(networks).includes(network), `${c.service} is on ${network}: ${Object.keys(networks).join(', ')}`);
      }
      assert.equal((await waitForHttp(`http://127.0.0.1:${options.notesPort}/`)).trim(), 'notes up');
    }

    // archive: the long-syntax env_file from ../../secrets, and .env interpolation (or refused: above).
    if (!refused.includes(stacks.archive)) {
      const archive = only(stacks.archive, 'archive');
      for (const [name, value] of Object.entries(ARCHIVE_SECRETS)) assert.equal(containerEnv(engine, archive.id, name, env), value, name);
      assert.equal(containerEnv(engine, archive.id, 'ARCHIVE_TITLE', env), 'family archive');
    }

    // web: HOST_PORT from podman-compose.env publishes the port; .env reaches the container.
    assert.equal((await waitForHttp(`http://127.0.0.1:${webPort}/`)).trim(), WEB_GREETING);

    // pinned: exactly the image the digest names.
    assert.equal(only(stacks.pinned, 'pinned').imageId, pinnedImage.imageId);

    // app: the bot's target runs 1.0.
    const app = only(stacks.app, 'app');
    assert.equal(app.imageId, app10.imageId);
    assert.equal(exec(app, 'printenv', 'APP_VERSION'), `app-1.0-${id}`);

    // proxy: its container wrote into the untracked acme.json.
    assert.match(readFileSync(acmePath(repo, stacks), 'utf8'), /renewed/);
  });

  await step('2. an image-bot tag bump in app recreates only that container', async () => {
    bumpAppTag(repo, options, stacks, '1.1');
    const run = await pushAndDeploy('chore(deps): update app to 1.1');
    assert.deepEqual(deployedServices(run), [stacks.app], summary(run));
    const after = snapshot();
    assertUnchangedExcept(ids, after, [`${stacks.app}/app`]);
    const app = only(stacks.app, 'app');
    assert.equal(app.imageId, app11.imageId);
    assert.equal(exec(app, 'printenv', 'APP_VERSION'), `app-1.1-${id}`);
    ids = after;
  });

  await step('3. a HOST_PORT change in podman-compose.env moves the published port', async () => {
    const oldPort = webPort;
    webPort = await freePort();
    setWebPort(repo, stacks, webPort);
    const run = await pushAndDeploy('web: move to another port');
    assert.deepEqual(deployedServices(run), [stacks.web], summary(run));
    assert.match(deploymentOf(run, stacks.web).reason, /podman-compose\.env/, 'the reason names the file that changed');
    assert.equal((await waitForHttp(`http://127.0.0.1:${webPort}/`)).trim(), WEB_GREETING);
    await portRefused(oldPort);
    const after = snapshot();
    assertUnchangedExcept(ids, after, [`${stacks.web}/web`]);
    ids = after;
  });

  if (!suite.full) return;

  await step('4. a service directory removed in git is pruned: containers and network gone, named volume kept, tombstone in history', async () => {
    const { volume, network } = notesResources(stacks);
    repo.remove(`services/${stacks.notes}`);
    const run = await pushAndDeploy('retire notes');
    assert.deepEqual(deployedServices(run), [stacks.notes], summary(run));
    const tombstone = deploymentOf(run, stacks.notes);
    assert.equal(tombstone.action, 'prune', summary(run));
    assert.deepEqual(containers(stacks.notes), [], 'the containers are gone');
    assert.throws(() => sh(engine, ['network', 'inspect', network], { env }), `${network} is gone`);
    assert.equal(sh(engine, ['volume', 'inspect', '--format', '{{.Name}}', volume], { env }), volume, 'the named volume is kept');
    // The history asked for by name: removed, its newest deployment the tombstone.
    const view = (await server.get(`/api/services/${stacks.notes}`)) as { service: { state: string }; history: Array<{ action: string; runId: string }> };
    assert.equal(view.service?.state, 'removed', JSON.stringify(view));
    assert.equal(view.history[0]?.action, 'prune', JSON.stringify(view.history));
    assert.equal(view.history[0]?.runId, run.id);
    const listed = (await server.get('/api/services')).services as Array<{ name: string }>;
    assert.ok(!listed.some((s) => s.name === stacks.notes), 'the services list drops it');
    const after = snapshot();
    assertUnchangedExcept(ids, after, [], [stacks.notes]);
    ids = after;
  });

  await step('5. a stopped container shows drifted, then is healed', async () => {
    const web = only(stacks.web, 'web');
    sh(engine, ['stop', web.id], { env });
    type View = { name: string; state: string; drift: { reasons: string[]; healRunId: string | null } | null };
    let drifted: View | undefined;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const view = ((await server.get('/api/services')).services as View[]).find((s) => s.name === stacks.web);
      if (view?.state === 'drifted') drifted ??= view;
      const running = containers(stacks.web).filter((c) => c.state === 'running');
      if (drifted && view?.state === 'in-sync' && view.drift === null && running.length === 1) break;
      assert.ok(Date.now() < deadline, `web not drifted and healed within 60 s (drifted seen: ${JSON.stringify(drifted)}, now ${JSON.stringify(view)}, containers ${JSON.stringify(containers(stacks.web))})`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    assert.ok(drifted.drift?.reasons.some((r) => r.includes(web.name)), `the reason names the container: ${JSON.stringify(drifted.drift)}`);
    const heals = ((await server.get('/api/runs?limit=20')).runs as Array<{ origin: string; service: string | null; status: string }>).filter((r) => r.origin === 'heal');
    assert.deepEqual(heals.map((r) => [r.service, r.status]), [[stacks.web, 'succeeded']], 'one heal run, of web');
    assert.equal((await waitForHttp(`http://127.0.0.1:${webPort}/`)).trim(), WEB_GREETING);
    const after = snapshot();
    // Healing may restart the stopped container or create a new one; nothing else moves.
    const healed = { ...after, [stacks.web]: ids[stacks.web]! };
    assertUnchangedExcept(ids, healed, []);
    ids = after;
  });

  await step('6. the acme.json its container writes does not redeploy proxy on the next push', async () => {
    const proxy = only(stacks.proxy, 'proxy');
    const before = readFileSync(acmePath(repo, stacks), 'utf8');
    exec(proxy, 'sh', '-c', 'echo \'{"renewed": "again"}\' >> /data/acme.json');
    assert.notEqual(readFileSync(acmePath(repo, stacks), 'utf8'), before, 'the container wrote the file in the checkout');
    repo.write('README.md', '# Self-hosted services\n\nSee each service directory.\n');
    const run = await pushAndDeploy('docs: README');
    assert.deepEqual(deployedServices(run), [], summary(run));
    assertUnchangedExcept(ids, snapshot(), []);
  });

  await step('7. a burst of 5 package webhooks within the window is one run and one pull', async () => {
    const rebuilt = await push(`${appRepository}:1.1`, `app-1.1-rebuilt-${id}`);
    assert.notEqual(rebuilt.imageId, app11.imageId);
    const mark = registryLogLines(engines).length;
    const body = JSON.stringify({ action: 'published', package: { name: `gds-proof/app-${id}` } });
    const answers = await Promise.all(Array.from({ length: 5 }, () => server.post(`/redeploy-and-update/${stacks.app}`, body, { contentType: 'application/json' })));
    for (const a of answers) assert.ok(a.status === 202 || a.status === 200, JSON.stringify(a));
    const runIds = [...new Set(answers.map((a) => a.json.runId as string | undefined).filter((r): r is string => typeof r === 'string'))];
    assert.equal(runIds.length, 1, `one run for the burst: ${JSON.stringify(answers.map((a) => a.json))}`);
    const run = await server.waitForRun(runIds[0]!);
    assert.equal(run.status, 'succeeded', summary(run));
    const update = deploymentOf(run, stacks.app);
    assert.equal(update.action, 'update');
    const runs = (await server.get('/api/runs?limit=20')) as { runs: Array<{ id: string; trigger: string }> };
    assert.equal(runs.runs.filter((r) => r.trigger === 'redeploy-and-update').length, 1, 'no other update run was recorded');
    assert.equal(enginePulls(engines, mark, `gds-proof/app-${id}`, '1.1'), 1, 'the engine pulled app:1.1 once');
    const after = snapshot();
    assertUnchangedExcept(ids, after, [`${stacks.app}/app`]);
    const app = only(stacks.app, 'app');
    assert.equal(app.imageId, rebuilt.imageId);
    assert.equal(exec(app, 'printenv', 'APP_VERSION'), `app-1.1-rebuilt-${id}`);
  });
}
