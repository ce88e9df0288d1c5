// Actions shared by the views: deploy all changed, redeploy a service, update its images. The
// answer (the run queued or joined) or the error is flashed under the header.

import { api } from './api.js';
import { enc, esc } from './format.js';
import { flashError, flashQueued } from './shell.js';

export async function deployService(name, kind) {
  const question =
    kind === 'update'
      ? `Pull the images of ${name} and recreate its containers whose image changed?`
      : kind === 'force'
        ? `Recreate every container of ${name} now, even those that run their current configuration?`
        : `Redeploy ${name} now from the checkout as it is, changed or not?`;
  if (!window.confirm(question)) return null;
  const what = kind === 'update' ? `Image update of ${name}` : kind === 'force' ? `Forced recreate of ${name}` : `Redeploy of ${name}`;
  try {
    const answer = await api(`/api/services/${enc(name)}/${kind === 'update' ? 'update' : 'deploy'}`, { method: 'POST', ...(kind === 'force' ? { body: { force: true } } : {}) });
    flashQueued(what, answer);
    return answer;
  } catch (error) {
    flashError(what, error);
    return null;
  }
}

/** Rollback and pinning: deploys an earlier successful deployment again (`to`: its id), or unpins. */
export async function pinAction(name, kind, to) {
  const question = kind === 'unpin'
    ? `Let ${name} follow git again? The next run deploys what git says.`
    : `Roll ${name} back to deployment ${to}? It stays pinned there until git changes it or you unpin it.`;
  if (!window.confirm(question)) return null;
  const what = kind === 'unpin' ? `Unpin of ${name}` : `Rollback of ${name}`;
  try {
    const answer = await api(`/api/services/${enc(name)}/${kind === 'unpin' ? 'unpin' : 'rollback'}`, { method: 'POST', ...(kind === 'unpin' ? {} : { body: { to } }) });
    if (answer?.runId) flashQueued(what, answer);
    return answer;
  } catch (error) {
    flashError(what, error);
    return null;
  }
}

/** POST /api/deploy, then opens the run. */
export async function deployAllChanged(button) {
  if (button) button.disabled = true;
  try {
    const answer = await api('/api/deploy', { method: 'POST' });
    if (answer.coalesced) flashQueued('Deploy of all changed services', answer);
    location.hash = `#/runs/${enc(answer.runId)}`;
  } catch (error) {
    flashError('Deploy of all changed services', error);
  } finally {
    if (button) button.disabled = false;
  }
}

/** `detail`: the service detail view, which also offers the forced recreate. */
export function actionButtons(service, small = true, detail = false) {
  if (service.state === 'self') return '<span class="muted small" title="The server does not redeploy its own service">own service</span>';
  // Gone from the checkout: there is nothing to redeploy; the next deploy-all prunes it (or PRUNE=false keeps it).
  if (service.state === 'orphaned') return '<span class="muted small" title="Deployed, but its directory is no longer in the checkout; not pruned (PRUNE=false, the guard, or no removal in git)">not in git</span>';
  if (service.state === 'removed') return '<span class="muted small" title="Its directory was removed in git and its containers taken down">pruned</span>';
  const name = esc(service.name);
  const cls = small ? ' class="small"' : '';
  return `<button type="button"${cls} data-act="deploy" data-name="${name}">Redeploy</button>` +
    (detail && !service.self ? `<button type="button"${cls} data-act="force" data-name="${name}" title="Recreates every container, changed or not">Force recreate</button>` : '') +
    `<button type="button"${cls} data-act="update" data-name="${name}">Update images</button>` +
    (service.pinned ? `<button type="button"${cls} data-act="unpin" data-name="${name}">Unpin</button>` : '');
}

/** Click delegation for Redeploy / Update images buttons inside `root`. */
export function bindActions(root, afterAction) {
  root.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-act]');
    if (!button || !root.contains(button)) return;
    button.disabled = true;
    const act = button.dataset.act;
    const answer = act === 'rollback' || act === 'unpin'
      ? await pinAction(button.dataset.name, act, button.dataset.to)
      : await deployService(button.dataset.name, act);
    button.disabled = false;
    if (answer) afterAction?.(answer);
  });
}
