// The page's router: the URL fragment picks the view, and a view without a
// signed-in user becomes the sign-in view.

import { claims, clearToken, token } from './api.js';
import { fill, h } from './dom.js';
import { noteView } from './note.js';
import { queueView } from './queue.js';
import { recorderView } from './recorder.js';
import { signinView } from './signin.js';

const main = document.getElementById('main');
let leave = null; // the current view's clean-up (stops a recording, etc.)

function signedIn() {
  const c = claims(token());
  return c && (!c.exp || c.exp * 1000 > Date.now()) ? c : null;
}

function header(c) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.hidden = !c;
  if (!c) {
    fill(who);
    return;
  }
  fill(who,
    h('span', { class: 'who-name', 'data-testid': 'who' }, c.name || c.sub),
    h('span', { class: 'who-meta' }, ` · ${c.role} · clinic ${c.clinic}`),
    h('button', { type: 'button', class: 'link', onclick: () => { clearToken(); location.hash = '#/signin'; } }, 'Sign out'));
}

async function route() {
  if (leave) {
    try { leave(); } catch { /* a view's clean-up must not stop navigation */ }
    leave = null;
  }
  const hash = location.hash.replace(/^#/, '') || '/';
  const c = signedIn();
  header(c);
  for (const a of document.querySelectorAll('#nav a')) {
    if (hash.startsWith(`/${a.dataset.view}`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  fill(main);
  if (!c || hash === '/signin') {
    signinView(main, { expired: !!token() && !c, next: hash === '/signin' ? '/' : hash });
    return;
  }
  const m = hash.match(/^\/notes\/([^/?]+)/);
  if (m) leave = noteView(main, decodeURIComponent(m[1]), c);
  else if (hash.startsWith('/record')) leave = recorderView(main, c);
  else if (hash.startsWith('/queue')) leave = queueView(main, c);
  else leave = c.role === 'clinician' ? recorderView(main, c) : queueView(main, c);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('scribegate:unauthorized', () => {
  if (main.querySelector('#token')) return; // the sign-in view reports it
  clearToken();
  route();
});
route();
