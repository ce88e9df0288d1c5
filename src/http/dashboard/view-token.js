// The views shown instead of the dashboard while it cannot use the API: the token form and the
// "API off" note. What the buttons do (store the token, sign in again) is app.js's business.

import { esc } from './format.js';
import { $ } from './shell.js';

/** The token form in `view`; `onToken` gets the token entered. */
export function tokenView(view, message, onToken) {
  view.innerHTML = `
    <form class="card narrow" id="token-form" autocomplete="off">
      <h1>API token</h1>
      <p>This dashboard uses the server's management API. Enter the token configured as
        <code>API_TOKEN</code> on the server. It is kept in this browser's local storage until you
        choose <em>Forget token</em>.</p>
      ${message ? `<p class="error-text" role="alert" id="token-error">${esc(message)}</p>` : ''}
      <label for="token-input">Token</label>
      <div class="row">
        <input id="token-input" name="token" type="password" required spellcheck="false" autocomplete="off">
        <button type="submit" class="primary">Use token</button>
      </div>
    </form>`;
  const form = $('#token-form', view);
  const input = $('#token-input', view);
  input.focus();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    onToken(token);
  });
}

/** The note that the server has no API_TOKEN, with a retry and a way back to the token form. */
export function apiDisabledView(view, message, { onRetry, onChangeToken }) {
  view.innerHTML = `
    <div class="card narrow" id="api-disabled">
      <h1>The management API is off</h1>
      <p>This server has no <code>API_TOKEN</code> configured, so every <code>/api</code> route is
        refused and the dashboard cannot show anything. Set <code>API_TOKEN</code> (or
        <code>API_TOKEN_FILE</code>) in the server's environment and restart it.</p>
      <p class="muted">${esc(message)}</p>
      <div class="row"><button type="button" id="retry-api">Try again</button>
        <button type="button" id="change-token" class="link">Use another token</button></div>
    </div>`;
  $('#retry-api', view).onclick = () => onRetry();
  $('#change-token', view).onclick = () => onChangeToken();
}
