// Sign-in: with the organisation's identity provider when the gateway has
// single sign-on (the development token flow is then off), else paste a
// token (development). A token stays in this tab's sessionStorage and is
// sent with each call; the gateway checks it.

import { api, claims, clearToken, plainWords, setToken } from './api.js';
import { h } from './dom.js';

export function signinView(main, { expired, next, sso }) {
  if (sso && sso.mode === 'oidc') {
    const target = `/auth/login?next=${encodeURIComponent(`/#${next || '/'}`)}`;
    main.append(h('div', { class: 'card narrow' },
      h('h1', {}, 'Sign in'),
      h('p', { class: 'error', role: 'alert', id: 'signin-error' }, expired ? 'Your sign-in has expired. Sign in again.' : ''),
      h('p', {}, 'Sign in with your organisation\'s account.'),
      h('div', { class: 'actions' }, h('a', { class: 'button primary', id: 'sso-signin', href: target }, 'Sign in with your organisation')),
      launchHelp(sso)));
    main.querySelector('#sso-signin').focus();
    return;
  }
  const status = h('p', { class: 'error', role: 'alert', id: 'signin-error' }, expired ? 'Your sign-in has expired. Paste a new token.' : '');
  const input = h('textarea', { id: 'token', name: 'token', rows: 4, autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-help signin-error' });
  const form = h('form', { class: 'card narrow', onsubmit: submit },
    h('h1', {}, 'Sign in'),
    h('label', { for: 'token' }, 'Token'),
    input,
    h('p', { class: 'help', id: 'token-help' },
      'In development, mint a token with the gateway\'s command and paste it here:'),
    h('pre', { class: 'command' }, h('code', {}, 'scribegate token -sub prac-1 -name "Dr Moore" -clinic clinic-a')),
    h('p', { class: 'help' }, 'Add -role reviewer to review a whole clinic\'s queue. The token is kept only in this browser tab and is forgotten when the tab closes.'),
    status,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  if (sso) form.append(launchHelp(sso));
  main.append(form);
  input.focus();

  async function submit(ev) {
    ev.preventDefault();
    const t = input.value.trim().replace(/^Bearer\s+/i, '');
    const c = claims(t);
    if (!c) {
      status.textContent = 'That does not look like a token: it should be three parts separated by dots.';
      return;
    }
    if (c.exp && c.exp * 1000 <= Date.now()) {
      status.textContent = 'That token has expired. Mint a new one.';
      return;
    }
    setToken(t);
    try {
      await api('GET', '/v1/templates');
    } catch (e) {
      clearToken();
      status.textContent = plainWords(e.code, e.message);
      return;
    }
    const target = next && next !== '/' ? `#${next}` : (c.role === 'clinician' ? '#/record' : '#/queue');
    if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = target;
  }
}

// launchHelp says how to start from the EHR, when EHRs may launch the app:
// from the patient's chart there, or here, signing in at the EHR and
// picking the patient in its own patient picker (SMART standalone launch).
function launchHelp(sso) {
  if (!sso.ehrs || !sso.ehrs.length) return null;
  return h('div', { class: 'launch-help' },
    h('p', { class: 'help' }, 'Or open scribegate from the patient\'s chart in your EHR, or sign in at your EHR and choose the patient there:'),
    h('div', { class: 'actions' }, ...sso.ehrs.map((name) => h('a', {
      class: 'button', href: `/launch/standalone?ehr=${encodeURIComponent(name)}`, 'data-ehr': name,
    }, `Choose the patient in ${name}`))));
}
