// The page's router: the URL fragment picks the view, and a view without a
// signed-in user becomes the sign-in view. A view may guard against being
// left (the recorder while it records): the router then asks it first.

import { claims, clearToken, loadSession, signOut, ssoInfo, token } from './api.js';
import { fill, h } from './dom.js';
import { noteView } from './note.js';
import { queueView } from './queue.js';
import { recorderView } from './recorder.js';
import { rolloutView } from './rollout.js';
import { signinView } from './signin.js';

const main = document.getElementById('main');
// The current view's hooks: leave() cleans up (drops a lock, closes a
// stream); guard(), when set and true, means leaving needs asking, which
// ask() does, resolving true when the user chose to go.
let view = {};
let shownHash = location.hash;

// signedIn is who is signed in: the pasted token's claims, or the
// gateway's session (single sign-on or an EHR launch).
function signedIn() {
  const c = token() ? claims(token()) : (ssoInfo() && ssoInfo().user);
  return c && (!c.exp || c.exp * 1000 > Date.now()) ? c : null;
}

function header(c) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = !c;
  // The rollout figures are the clinic's: for its reviewers and admins.
  nav.querySelector('[data-view=rollout]').hidden = !c || c.role === 'clinician';
  if (!c) {
    fill(who);
    return;
  }
  fill(who,
    h('span', { class: 'who-name', 'data-testid': 'who' }, c.name || c.sub),
    h('span', { class: 'who-meta' }, ` · ${c.role} · clinic ${c.clinic}`),
    h('a', { class: 'link', href: '#/signout', id: 'signout' }, 'Sign out'));
}

async function navigate() {
  if (view.guard && view.guard()) {
    const target = location.hash;
    // Stay on the view (replaceState fires no hashchange) until the user says.
    history.replaceState(null, '', shownHash || '#/');
    if (!(await view.ask())) return;
    location.hash = target;
    return;
  }
  route();
}

// leave cleans up the current view before another replaces it.
function leave() {
  if (view.leave) {
    try { view.leave(); } catch { /* a view's clean-up must not stop navigation */ }
  }
  view = {};
}

// waitingWords say why the page cannot yet know who is signed in.
const waitingWords = {
  store_unavailable: 'The gateway\'s store is unavailable — retrying…',
  network: 'The gateway could not be reached — retrying…',
};

// waiting shows, while the gateway cannot say who is signed in, that the
// page is waiting for it, not that no one is: a sign-in form then would
// send a signed-in clinician to sign in again.
function waiting(code) {
  leave();
  header(null);
  let status = main.querySelector('#session-status');
  if (!status) {
    status = h('p', { class: 'status', id: 'session-status', role: 'status', 'aria-live': 'polite' });
    fill(main, h('div', { class: 'card narrow' }, h('h1', {}, 'Waiting for the gateway'), status));
  }
  status.textContent = waitingWords[code] || 'The gateway is not answering — retrying…';
}

// start learns who is signed in, waiting for the gateway if need be, and
// shows the view.
function start() {
  loadSession(waiting).then(route);
}

function route() {
  leave();
  let hash = location.hash.replace(/^#/, '') || '/';
  if (hash === '/signout') {
    history.replaceState(null, '', '#/signin');
    signOut().then((to) => {
      if (to) location.assign(to); // the provider's sign-out page
      else route();
    });
    return;
  }
  shownHash = location.hash;
  const c = signedIn();
  header(c);
  for (const a of document.querySelectorAll('#nav a')) {
    if (hash.startsWith(`/${a.dataset.view}`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  fill(main);
  if (!c || hash === '/signin') {
    const sso = ssoInfo();
    signinView(main, { expired: (!!token() || !!(sso && sso.expired)) && !c, next: hash === '/signin' ? '/' : hash, sso });
    return;
  }
  const m = hash.match(/^\/notes\/([^/?]+)/);
  let v;
  if (m) v = noteView(main, decodeURIComponent(m[1]), c);
  else if (hash.startsWith('/record')) v = recorderView(main, c);
  else if (hash.startsWith('/queue')) v = queueView(main, c);
  else if (hash.startsWith('/rollout')) v = rolloutView(main, c);
  else v = c.role === 'clinician' ? recorderView(main, c) : queueView(main, c);
  view = typeof v === 'function' ? { leave: v } : (v || {});
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

window.addEventListener('hashchange', navigate);
// Closing or reloading the tab while recording: the browser asks first.
window.addEventListener('beforeunload', (ev) => {
  if (view.guard && view.guard()) {
    ev.preventDefault();
    ev.returnValue = '';
  }
});
window.addEventListener('scribegate:unauthorized', () => {
  if (main.querySelector('#token')) return; // the sign-in view reports it
  if (view.guard && view.guard()) return; // the recorder says so itself; it keeps recording
  clearToken();
  start();
});
start();
