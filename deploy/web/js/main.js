// Entry point: the router (location.hash, so that the gateway serves one
// page at / and every other path stays the API's JSON 404), the top bar
// (navigation, badges, connection state) and the session's start and end.

import * as api from './api.js';
import { app, start, stop, totalUnread, incomingRequests } from './state.js';
import { h, clear } from './dom.js';
import * as authView from './views/auth.js';
import * as chatsView from './views/chats.js';
import * as friendsView from './views/friends.js';
import * as groupsView from './views/groups.js';
import * as notificationsView from './views/notifications.js';
import * as momentsView from './views/moments.js';
import * as meView from './views/me.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const connection = document.getElementById('connection');

let unmount = null;
let currentKey = null;
let currentView = null;

const routes = [
  [/^#\/login$/, () => ({ view: authView, params: { mode: 'login' }, open: true })],
  [/^#\/register$/, () => ({ view: authView, params: { mode: 'register' }, open: true })],
  [/^#\/chats$/, () => ({ view: chatsView, params: {}, nav: 'chats' })],
  [/^#\/chat\/(.+)$/, (m) => ({ view: chatsView, params: { id: decodeURIComponent(m[1]) }, nav: 'chats' })],
  [/^#\/friends$/, () => ({ view: friendsView, params: {}, nav: 'friends' })],
  [/^#\/groups$/, () => ({ view: groupsView, params: {}, nav: 'groups' })],
  [/^#\/groups\/([0-9a-fA-F-]{36})$/, (m) => ({ view: groupsView, params: { id: m[1] }, nav: 'groups' })],
  [/^#\/moments$/, () => ({ view: momentsView, params: {}, nav: 'moments' })],
  [/^#\/notifications$/, () => ({ view: notificationsView, params: {}, nav: 'notifications' })],
  [/^#\/me$/, () => ({ view: meView, params: {}, nav: 'me' })],
];

function resolve(hash) {
  for (const [re, make] of routes) {
    const m = hash.match(re);
    if (m) return make(m);
  }
  return null;
}

function route() {
  const signedIn = Boolean(api.currentSession());
  let r = resolve(location.hash);
  if (!signedIn && (!r || !r.open)) {
    if (location.hash !== '#/login' && location.hash !== '#/register') {
      location.replace('#/login');
      return;
    }
  }
  if (signedIn && (!r || r.open)) {
    location.replace('#/chats');
    return;
  }
  topbar.hidden = !signedIn;
  for (const a of topbar.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const key = location.hash;
  if (key === currentKey) return;
  // the chats view switches conversations itself, without a remount
  if (currentView === r.view && r.view.update && r.view.update(r.params)) {
    currentKey = key;
    return;
  }
  if (unmount) unmount();
  clear(main);
  currentKey = key;
  currentView = r.view;
  unmount = r.view.mount(main, r.params) || null;
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    const heading = main.querySelector('h1, h2');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }
}

// ---- top bar -------------------------------------------------------------------

function setBadge(name, n) {
  const el = topbar.querySelector(`[data-badge="${name}"]`);
  if (!el) return;
  if (el.classList.contains('dot')) {
    el.hidden = !n;
    return;
  }
  el.hidden = !n;
  clear(el);
  el.append(n > 99 ? '99+' : String(n || ''), h('span', { class: 'visually-hidden' }, name === 'friends' ? ' new requests' : ' unread'));
}

function renderBadges() {
  setBadge('chats', totalUnread());
  setBadge('friends', incomingRequests().length);
  setBadge('notifications', (app.badge && app.badge.total) || 0);
  setBadge('moments', app.momentsDot ? 1 : 0);
}

function renderConnection(detail) {
  clear(connection);
  const state = detail.state;
  connection.dataset.state = state;
  if (state === 'online') {
    connection.append(h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden' }, 'Connected'));
    return;
  }
  if (state === 'connecting') connection.append('Connecting…');
  else if (state === 'offline') {
    connection.append(navigator.onLine ? 'Reconnecting…' : 'Offline');
    connection.append(' ', h('button', { type: 'button', class: 'link', onclick: () => app.socket && app.socket.connectNow() }, 'Reconnect now'));
  } else if (state === 'kicked') {
    const why = detail.reason === 'signed_out' ? 'Signed out' : 'Beaver is open in another window';
    connection.append(why + ' ');
    if (detail.reason !== 'signed_out') {
      connection.append(
        h('button', { type: 'button', class: 'link', onclick: () => app.socket && app.socket.start() }, 'Use here'),
      );
    }
  }
}

// ---- session -----------------------------------------------------------------------

let offs = [];
async function begin() {
  offs.forEach((f) => f());
  offs = [
    app.on('conversations', renderBadges),
    app.on('friends', renderBadges),
    app.on('badge', renderBadges),
    app.on('moments', renderBadges),
    app.on('connection', renderConnection),
  ];
  renderConnection({ state: 'connecting' });
  await start();
  renderBadges();
}

api.onSession((session, reason) => {
  if (!session) {
    stop();
    offs.forEach((f) => f());
    offs = [];
    currentKey = null;
    if (reason === 'expired') sessionStorage.setItem('beaver.notice', 'Your session has ended. Please sign in again.');
    location.hash = '#/login';
    route();
  } else if (reason === 'login') {
    begin();
  } else if (reason === 'refresh' && app.socket && app.socket.state !== 'online' && app.socket.state !== 'kicked') {
    app.socket.connectNow();
  }
});

window.addEventListener('hashchange', route);

if (api.currentSession()) begin();
route();
