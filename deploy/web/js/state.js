// The client's state and everything that changes it: REST loads, socket
// frames, sends. Views read `app` and listen for its events; they never talk
// to the socket themselves.
//
// Events (app.on(type, fn)):
//   conversations  the conversation list changed
//   chat           {id}: messages, receipts or paging state of a conversation changed
//   typing         {id}: who is typing in a conversation changed
//   profiles       names or avatars were loaded
//   friends        friends or friend requests changed
//   groups         the group list (or a group) changed
//   badge          the notification counts changed
//   notification   a new inbox item arrived
//   moments        a friend posted (the "new" dot), or activity on yours
//   connection     {state, ...}: the socket's state
//   presence       online states changed

import * as api from './api.js';
import { Realtime } from './socket.js';
import { announce, randomId, debounce } from './dom.js';

export const NIL = '00000000-0000-0000-0000-000000000000';
const PAGE = 50;
const TYPING_SHOWN_MS = 6000;
const TYPING_EVERY_MS = 3000;

class Emitter {
  constructor() {
    this.handlers = new Map();
  }
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }
  emit(type, detail) {
    for (const fn of this.handlers.get(type) || []) {
      try {
        fn(detail);
      } catch (e) {
        console.error(e);
      }
    }
  }
}

export const app = new Emitter();
Object.assign(app, {
  me: null, // user id
  profile: null, // own profile
  socket: null,
  profiles: new Map(), // user id -> {user_id, username, nickname, avatar, remark?}
  conversations: new Map(), // conversation id -> row of GET /api/chat/conversations
  convVersion: null,
  convLoaded: false,
  chats: new Map(), // conversation id -> chat state (messages)
  groups: new Map(), // group id -> {group_id, conversation_id, name, role, member_count, ...}
  friends: [],
  requests: [],
  badge: { total: 0 },
  typing: new Map(), // conversation id -> Map(user id -> timer)
  online: new Map(), // user id -> boolean
  openConv: null, // the conversation on screen
  momentsDot: false,
});

// ---- session start / end ------------------------------------------------------

let started = false;

export async function start() {
  if (started) return;
  started = true;
  const s = api.currentSession();
  app.me = s.user_id;
  app.socket = new Realtime();
  app.socket.addEventListener('state', (e) => onSocketState(e.detail));
  app.socket.addEventListener('frame', (e) => onFrame(e.detail));
  app.socket.start();
  await Promise.allSettled([loadProfile(), loadConversations(true), loadFriends(), loadGroups(), loadBadge()]);
}

document.addEventListener('visibilitychange', () => {
  if (started && document.visibilityState === 'visible' && app.openConv) markRead(app.openConv);
});

export function stop() {
  if (!started) return;
  started = false;
  if (app.socket) app.socket.dispose();
  app.socket = null;
  app.me = null;
  app.profile = null;
  app.profiles.clear();
  app.conversations.clear();
  app.convVersion = null;
  app.convLoaded = false;
  myReads.clear();
  app.chats.clear();
  app.groups.clear();
  app.friends = [];
  app.requests = [];
  app.badge = { total: 0 };
  app.typing.clear();
  app.online.clear();
  app.openConv = null;
}

function onSocketState(detail) {
  app.emit('connection', detail);
  if (detail.state === 'online') afterReconnect();
}

// After every (re)connect: get what was missed (docs/push.md, "No loss: sync,
// then live"): `sync` from the last seq held for every conversation whose
// messages are loaded, and the conversation list since its version for the rest.
async function afterReconnect() {
  const wanted = {};
  for (const [id, chat] of app.chats) if (chat.loaded) wanted[id] = chat.newestSeq;
  await Promise.allSettled([syncConversations(wanted), loadConversations(), loadFriends(), loadGroups(), loadBadge()]);
  if (app.openConv) {
    markRead(app.openConv);
    loadReceipts(app.openConv);
  }
  loadPresence();
}

async function syncConversations(wanted) {
  let entries = Object.entries(wanted);
  while (entries.length && app.socket && app.socket.isOnline) {
    const batch = Object.fromEntries(entries.slice(0, 200));
    entries = entries.slice(200);
    let done;
    try {
      done = await app.socket.call('sync', { conversations: batch }, 30_000);
    } catch (e) {
      console.warn('sync failed', e);
      return;
    }
    const convs = (done.data && done.data.conversations) || {};
    for (const [id, r] of Object.entries(convs)) {
      if (r.has_more) entries.push([id, r.last_seq]);
    }
  }
}

// ---- profiles, groups, friends ---------------------------------------------------

const profileLoads = new Map();

export function displayName(userId) {
  if (!userId) return '';
  if (userId === NIL) return 'Beaver';
  const p = app.profiles.get(userId);
  if (!p) return 'User ' + userId.slice(-4);
  return p.remark || p.nickname || p.username || 'User ' + userId.slice(-4);
}

export function ensureProfiles(ids) {
  const missing = [...new Set(ids)].filter((id) => id && id !== NIL && !app.profiles.has(id) && !profileLoads.has(id));
  if (!missing.length) return Promise.resolve();
  const loads = missing.map((id) => {
    const p = api
      .get(`/api/user/profile${api.qs({ user_id: id })}`)
      .then((prof) => app.profiles.set(id, { ...prof, ...(app.profiles.get(id) || {}) }))
      .catch(() => {})
      .finally(() => profileLoads.delete(id));
    profileLoads.set(id, p);
    return p;
  });
  return Promise.all(loads).then(() => app.emit('profiles'));
}

async function loadProfile() {
  app.profile = await api.get('/api/user/profile');
  app.profiles.set(app.me, { ...app.profile });
  app.emit('profiles');
}

export async function updateProfile(fields) {
  const data = await api.put('/api/user/profile', fields);
  app.profile = { ...app.profile, ...data };
  app.profiles.set(app.me, { ...app.profiles.get(app.me), ...data });
  app.emit('profiles');
  return data;
}

// A `friend` or `group` frame can arrive before the list's read model shows
// its change (ws-push reads the topic, the lists read the projections, which
// may also lag one another), so after a frame each list the event changes is
// read again, with backoff, until its version moves past what it was when
// the frame came. A frame arriving meanwhile starts the wait again.
const RELOAD_BACKOFF_MS = [250, 600, 1200, 2500];
const versions = { friends: null, requests: null, groups: null };

function reloader(load) {
  const pending = new Map(); // list -> its version when the frame came
  let attempt = 0;
  let timer = null;
  const settled = () => {
    for (const [k, v] of pending) if (versions[k] !== v) pending.delete(k);
    return pending.size === 0;
  };
  const tick = async () => {
    timer = null;
    await load().catch(() => {});
    if (settled() || timer) return;
    if (attempt >= RELOAD_BACKOFF_MS.length) {
      pending.clear(); // gave up: the next frame or reconnect reads again
      return;
    }
    timer = setTimeout(tick, RELOAD_BACKOFF_MS[attempt++]);
  };
  return (lists) => {
    settled();
    for (const k of lists) pending.set(k, versions[k]);
    attempt = 0;
    clearTimeout(timer);
    timer = null;
    tick();
  };
}

// loads of one list run one after the other, so an older answer never lands last
function serialized(fn) {
  let chain = Promise.resolve();
  return () => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };
}

// which of the lists a relation event changes
const FRIEND_EVENT_LISTS = {
  FriendRequestSent: ['requests'],
  FriendRequestRejected: ['requests'],
  FriendRequestAccepted: ['friends', 'requests'],
  FriendRemoved: ['friends'],
  FriendRemarkSet: ['friends'],
};
const friendsReload = reloader(() => loadFriends());
const friendsChanged = (event) => friendsReload(FRIEND_EVENT_LISTS[event] || []);
const groupsReload = reloader(() => loadGroups());
const groupsChanged = () => groupsReload(['groups']);

export const loadFriends = serialized(fetchFriends);
export const loadGroups = serialized(fetchGroups);

async function fetchFriends() {
  const [list, reqs] = await Promise.all([api.get('/api/friend/list'), api.get('/api/friend/requests')]);
  versions.friends = list.version;
  versions.requests = reqs.version;
  app.friends = list.friends;
  for (const f of list.friends) {
    app.profiles.set(f.user_id, { ...(app.profiles.get(f.user_id) || {}), ...f });
  }
  app.requests = reqs.requests;
  await ensureProfiles(reqs.requests.flatMap((r) => [r.from_user_id, r.to_user_id]));
  app.emit('friends');
  app.emit('profiles');
  loadPresence();
}

export function incomingRequests() {
  return app.requests.filter((r) => r.to_user_id === app.me && r.status === 'pending');
}

async function fetchGroups() {
  const data = await api.get('/api/group/mine');
  versions.groups = data.version;
  const seen = new Set();
  for (const g of data.groups) {
    seen.add(g.group_id);
    app.groups.set(g.group_id, { ...(app.groups.get(g.group_id) || {}), ...g, mine: true });
  }
  for (const [id, g] of app.groups) if (g.mine && !seen.has(id)) app.groups.delete(id);
  app.emit('groups');
  app.emit('conversations');
}

const groupLoads = new Map();
export function ensureGroup(groupId) {
  if (app.groups.has(groupId)) return Promise.resolve(app.groups.get(groupId));
  if (!groupLoads.has(groupId)) {
    groupLoads.set(
      groupId,
      api
        .get(`/api/group/${groupId}`)
        .then((g) => {
          app.groups.set(groupId, { ...g, mine: Boolean(g.my_role) });
          app.emit('groups');
          app.emit('conversations');
          return g;
        })
        .catch(() => null)
        .finally(() => groupLoads.delete(groupId)),
    );
  }
  return groupLoads.get(groupId);
}

export async function loadBadge() {
  const b = await api.get('/api/notification/badge');
  app.badge = { ...b.notifications, messages: b.messages };
  app.emit('badge');
}

async function loadPresence() {
  const ids = app.friends.map((f) => f.user_id).slice(0, 100);
  if (!ids.length) return;
  try {
    const data = await api.get(`/api/user/online${api.qs({ user_ids: ids.join(',') })}`);
    for (const u of data.users) app.online.set(u.user_id, u.online);
    app.emit('presence');
  } catch {
    // presence is a nicety
  }
}

// ---- conversations ----------------------------------------------------------------

export function directId(a, b) {
  return a < b ? `direct:${a}:${b}` : `direct:${b}:${a}`;
}

export function parseConv(id) {
  if (id.startsWith('group:')) return { kind: 'group', groupId: id.slice(6) };
  const [, a, b] = id.split(':');
  return { kind: 'direct', peer: a === app.me ? b : a };
}

export function convTitle(id) {
  const c = parseConv(id);
  if (c.kind === 'group') {
    const g = app.groups.get(c.groupId);
    return g ? g.name : 'Group';
  }
  return displayName(c.peer);
}

// One load at a time (a slow full load answering after a newer incremental
// one would bring back old rows); a load asked for meanwhile runs once after.
let convLoad = null;
let convAgain = false;
export function loadConversations(full = false) {
  if (convLoad) {
    convAgain = convAgain || !full;
    if (full) convAgain = 'full';
    return convLoad;
  }
  convLoad = fetchConversations(full).finally(() => {
    convLoad = null;
    if (convAgain) {
      const f = convAgain === 'full';
      convAgain = false;
      loadConversations(f).catch(() => {});
    }
  });
  return convLoad;
}

// My read cursors as this client last set them: the list's read model may
// answer before it has applied a read we just made.
const myReads = new Map();

async function fetchConversations(full) {
  const since = !full && app.convVersion !== null ? app.convVersion : undefined;
  const data = await api.get(`/api/chat/conversations${api.qs({ since_version: since })}`);
  if (since === undefined || data.full_sync) app.conversations.clear();
  for (const c of data.conversations) {
    const mine = myReads.get(c.conversation_id) || 0;
    if (mine > (c.read_seq || 0)) {
      c.read_seq = mine;
      if (mine >= (c.max_seq || 0)) c.unread = 0;
    }
    app.conversations.set(c.conversation_id, c);
  }
  app.convVersion = data.version;
  app.convLoaded = true;
  const peers = [];
  for (const c of data.conversations) {
    if (c.kind === 'direct') peers.push(c.peer_user_id);
    else if (c.group_id && !app.groups.has(c.group_id)) ensureGroup(c.group_id);
    if (c.last_message) peers.push(c.last_message.sender_id);
  }
  ensureProfiles(peers);
  app.emit('conversations');
  updateTitle();
}

const refreshConversationsSoon = debounce(() => loadConversations().catch(() => {}), 300);

/** Conversations to show: not hidden, pinned first, then newest. */
export function conversationList() {
  const list = [...app.conversations.values()].filter((c) => !c.hidden);
  list.sort((a, b) => {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    const ta = a.last_message ? a.last_message.sent_at : '';
    const tb = b.last_message ? b.last_message.sent_at : '';
    return ta < tb ? 1 : ta > tb ? -1 : 0;
  });
  return list;
}

export function totalUnread() {
  let n = 0;
  for (const c of app.conversations.values()) if (!c.muted && !c.hidden) n += c.unread || 0;
  return n;
}

function updateTitle() {
  const n = totalUnread();
  document.title = n ? `(${n}) Beaver` : 'Beaver';
}

export function preview(m) {
  if (!m) return '';
  if (m.recalled) return 'Message recalled';
  const c = m.content || {};
  switch (m.type) {
    case 'text':
    case 'markdown':
    case 'reply':
      return c.text || '';
    case 'image':
      return '[image]';
    case 'file':
      return `[file] ${c.name || ''}`;
    case 'system':
      return systemText(m);
    default:
      return `[${m.type}]`;
  }
}

/** A system notice in words (docs/chat.md, "System notices"). */
export function systemText(m) {
  const c = m.content || {};
  const who = c.actor ? (c.actor === app.me ? 'You' : displayName(c.actor)) : 'Someone';
  const names = (c.user_ids || []).map((u) => (u === app.me ? 'you' : displayName(u))).join(', ');
  switch (c.event) {
    case 'group_created':
      return `${who} created the group “${c.name || ''}”` + (names ? ` with ${names}` : '');
    case 'members_added':
      return `${who} added ${names}`;
    case 'member_left':
      return `${names || who} left the group`;
    case 'member_kicked':
      return `${who} removed ${names}`;
    case 'role_changed':
      return `${who} made ${names} ${c.role}`;
    case 'owner_changed':
      return `${who} handed the group to ${names}`;
    case 'group_updated':
      return `${who} updated the group` + (c.name ? ` name to “${c.name}”` : '');
    case 'mute_all_changed':
      return `${who} ${c.muted ? 'muted' : 'unmuted'} everyone`;
    case 'call':
      return `Call ${c.result || 'ended'}`;
    default:
      return c.event ? `Group: ${c.event}` : 'Notice';
  }
}

function touchConversation(m) {
  let c = app.conversations.get(m.conversation_id);
  if (!c) {
    // a conversation we did not know: ask the server for it
    refreshConversationsSoon();
    return;
  }
  const mine = m.sender_id === app.me;
  if (m.seq > (c.max_seq || 0)) {
    c.max_seq = m.seq;
    c.last_message = {
      message_id: m.message_id,
      seq: m.seq,
      sender_id: m.sender_id,
      type: m.type,
      text: preview(m).slice(0, 100),
      sent_at: m.sent_at,
    };
    c.hidden = false;
    if (mine) {
      c.read_seq = m.seq;
      c.unread = 0;
    } else if (m.type !== 'system' && !isReadingNow(m.conversation_id)) {
      c.unread = (c.unread || 0) + 1;
    }
  }
  app.emit('conversations');
  updateTitle();
}

function isReadingNow(id) {
  return app.openConv === id && document.visibilityState === 'visible';
}

export async function setConversationSettings(id, flags) {
  await api.put(`/api/chat/conversations/${encodeURIComponent(id)}/settings`, flags);
  const c = app.conversations.get(id);
  if (c) Object.assign(c, flags);
  app.emit('conversations');
  updateTitle();
}

// ---- messages ------------------------------------------------------------------------

function chatState(id) {
  if (!app.chats.has(id)) {
    app.chats.set(id, {
      id,
      bySeq: new Map(),
      byId: new Map(),
      pending: new Map(), // client_msg_id -> message not yet numbered
      loaded: false,
      loading: null,
      hasMoreOlder: false,
      oldestSeq: null,
      newestSeq: 0,
      peerReadSeq: null,
      groupReads: new Map(), // seq -> read_count
      error: null,
    });
  }
  return app.chats.get(id);
}

export function getChat(id) {
  return chatState(id);
}

/** Messages in order: numbered ones by seq, then those still being sent. */
export function messagesOf(id) {
  const chat = chatState(id);
  const list = [...chat.bySeq.values()].sort((a, b) => a.seq - b.seq);
  return list.concat([...chat.pending.values()]);
}

function put(chat, m) {
  const old = chat.bySeq.get(m.seq);
  const merged = old ? { ...old, ...m, my_reactions: m.my_reactions && m.my_reactions.length ? m.my_reactions : old.my_reactions } : { ...m };
  merged._rev = (old ? old._rev || 0 : 0) + 1;
  chat.bySeq.set(m.seq, merged);
  chat.byId.set(m.message_id, merged);
  if (chat.oldestSeq === null || m.seq < chat.oldestSeq) chat.oldestSeq = m.seq;
  if (m.seq > chat.newestSeq) chat.newestSeq = m.seq;
  if (m.client_msg_id && chat.pending.has(m.client_msg_id) && m.sender_id === app.me) chat.pending.delete(m.client_msg_id);
  return merged;
}

/** Open a conversation: its newest page, receipts, and the read cursor. */
export async function openChat(id) {
  app.openConv = id;
  const chat = chatState(id);
  const c = parseConv(id);
  if (c.kind === 'direct') ensureProfiles([c.peer]);
  else ensureGroup(c.groupId);
  if (!chat.loaded) {
    if (!chat.loading) {
      chat.loading = api
        .get(`/api/chat/messages${api.qs({ conversation_id: id, before_seq: Number.MAX_SAFE_INTEGER, limit: PAGE })}`)
        .then((data) => {
          for (const m of data.messages) put(chat, m);
          chat.hasMoreOlder = data.has_more;
          chat.loaded = true;
          chat.error = null;
          ensureProfiles(data.messages.map((m) => m.sender_id));
        })
        .catch((e) => {
          chat.error = e.message;
        })
        .finally(() => {
          chat.loading = null;
          app.emit('chat', { id });
        });
    }
    await chat.loading;
  }
  if (app.openConv === id) {
    markRead(id);
    loadReceipts(id);
  }
}

export function closeChat(id) {
  if (app.openConv === id) app.openConv = null;
  // what was on screen was read, even if the chat closes before the cursor moved
  if (readTimers.has(id)) {
    clearTimeout(readTimers.get(id));
    readTimers.delete(id);
    if (document.visibilityState === 'visible') sendRead(id);
  }
}

export async function loadOlder(id) {
  const chat = chatState(id);
  if (!chat.loaded || !chat.hasMoreOlder || chat.loading) return;
  chat.loading = api
    .get(`/api/chat/messages${api.qs({ conversation_id: id, before_seq: chat.oldestSeq, limit: PAGE })}`)
    .then((data) => {
      for (const m of data.messages) put(chat, m);
      chat.hasMoreOlder = data.has_more && data.messages.length > 0;
      ensureProfiles(data.messages.map((m) => m.sender_id));
    })
    .catch((e) => {
      chat.error = e.message;
    })
    .finally(() => {
      chat.loading = null;
      app.emit('chat', { id, older: true });
    });
  await chat.loading;
}

// live messages that skip ahead of what we hold: fetch the hole
const fillingGap = new Set();
async function fillGap(chat, upTo) {
  if (fillingGap.has(chat.id)) return;
  fillingGap.add(chat.id);
  try {
    let after = chat.newestSeq;
    for (let i = 0; i < 10 && after < upTo; i += 1) {
      const data = await api.get(`/api/chat/messages${api.qs({ conversation_id: chat.id, after_seq: after, limit: 100 })}`);
      for (const m of data.messages) put(chat, m);
      if (!data.has_more || !data.messages.length) break;
      after = data.messages[data.messages.length - 1].seq;
    }
  } catch {
    // the next sync fills it
  } finally {
    fillingGap.delete(chat.id);
    app.emit('chat', { id: chat.id });
  }
}

function sendTarget(id) {
  const c = parseConv(id);
  return c.kind === 'group' ? { group_id: c.groupId } : { to_user_id: c.peer };
}

/** Send a message; shows at once as pending, numbered when the server answers. */
export function sendMessage(id, type, content, extra = {}) {
  const chat = chatState(id);
  const cmid = randomId('w');
  const m = {
    client_msg_id: cmid,
    conversation_id: id,
    sender_id: app.me,
    type,
    content,
    sent_at: new Date().toISOString(),
    reactions: {},
    my_reactions: [],
    pending: true,
    failed: null,
    _rev: 1,
    ...extra,
  };
  chat.pending.set(cmid, m);
  // the peer drops our typing notice when the message lands: the next keystroke tells again
  lastTyping.delete(id);
  app.emit('chat', { id, sent: true });
  deliver(chat, m);
  return m;
}

export function retrySend(id, cmid) {
  const chat = chatState(id);
  const m = chat.pending.get(cmid);
  if (!m) return;
  m.failed = null;
  m._rev += 1;
  app.emit('chat', { id });
  deliver(chat, m);
}

async function deliver(chat, m) {
  const body = { ...sendTarget(chat.id), client_msg_id: m.client_msg_id, type: m.type, content: m.content };
  if (m.reply_to) body.reply_to = m.reply_to;
  let ans = null;
  try {
    if (app.socket && app.socket.isOnline) {
      try {
        ans = (await app.socket.call('send', body)).data;
      } catch (e) {
        if (e.kind !== 'disconnected' && e.kind !== 'timeout' && e.kind !== 'rate_limited') throw e;
        ans = await api.post('/api/chat/send', body); // the same client_msg_id: no duplicate
      }
    } else {
      ans = await api.post('/api/chat/send', body);
    }
  } catch (e) {
    if (!chat.pending.has(m.client_msg_id)) return; // delivered meanwhile (frame)
    m.failed = e.message || 'not sent';
    m._rev += 1;
    app.emit('chat', { id: chat.id });
    return;
  }
  if (!chat.pending.has(m.client_msg_id)) return; // the message frame came first
  if (ans && ans.seq) {
    chat.pending.delete(m.client_msg_id);
    const known = chat.bySeq.get(ans.seq);
    if (!known) {
      const full = put(chat, {
        ...m,
        pending: false,
        failed: null,
        message_id: ans.message_id,
        seq: ans.seq,
        sent_at: ans.sent_at,
        mentions: [],
        reply_to: m.reply_to || null,
        edited_at: null,
        recalled: false,
      });
      touchConversation(full);
    }
  }
  // a 202 (seq null) stays pending until its frame or a sync brings it
  app.emit('chat', { id: chat.id });
  if (parseConv(chat.id).kind === 'group') loadReceiptsSoon(chat.id);
}

export async function recall(id, m) {
  await api.post(`/api/chat/messages/${m.message_id}/recall`);
  applyRecall(id, m.message_id);
}

export async function edit(id, m, text) {
  const data = await api.put(`/api/chat/messages/${m.message_id}`, { content: { ...m.content, text } });
  applyEdit(id, m.message_id, { ...m.content, text }, data.edited_at);
}

export async function deleteForMe(id, m) {
  await api.del(`/api/chat/messages/${m.message_id}`);
  removeMessage(id, m.message_id);
}

export async function toggleReaction(id, m, emoji) {
  const mineAlready = (m.my_reactions || []).includes(emoji);
  const data = mineAlready
    ? await api.del(`/api/chat/messages/${m.message_id}/reactions/${encodeURIComponent(emoji)}`)
    : await api.post(`/api/chat/messages/${m.message_id}/reactions`, { emoji });
  const chat = chatState(id);
  const cur = chat.byId.get(m.message_id);
  if (cur) {
    cur.reactions = data.reactions || cur.reactions;
    const set = new Set(cur.my_reactions || []);
    if (mineAlready) set.delete(emoji);
    else set.add(emoji);
    cur.my_reactions = [...set];
    cur._rev += 1;
    app.emit('chat', { id });
  }
}

function setPreview(id, messageId, text) {
  const c = app.conversations.get(id);
  if (c && c.last_message && c.last_message.message_id === messageId) {
    c.last_message = { ...c.last_message, text: text.slice(0, 100) };
    app.emit('conversations');
  }
}

function applyRecall(id, messageId) {
  setPreview(id, messageId, '[recalled]');
  const chat = chatState(id);
  const m = chat.byId.get(messageId);
  if (m && !m.recalled) {
    m.recalled = true;
    m.content = null;
    m._rev += 1;
    app.emit('chat', { id });
  }
  refreshConversationsSoon();
}

function applyEdit(id, messageId, content, editedAt) {
  if (content && typeof content.text === 'string') setPreview(id, messageId, content.text);
  const chat = chatState(id);
  const m = chat.byId.get(messageId);
  if (m) {
    m.content = content;
    m.edited_at = editedAt || new Date().toISOString();
    m._rev += 1;
    app.emit('chat', { id });
  }
  refreshConversationsSoon();
}

function removeMessage(id, messageId) {
  const chat = chatState(id);
  const m = chat.byId.get(messageId);
  if (m) {
    chat.byId.delete(messageId);
    chat.bySeq.delete(m.seq);
    app.emit('chat', { id });
  }
  refreshConversationsSoon();
}

// ---- read cursors and receipts ---------------------------------------------------------

const readTimers = new Map();
/** Move my read cursor to the newest message held (while the chat is on screen). */
export function markRead(id) {
  clearTimeout(readTimers.get(id));
  readTimers.set(
    id,
    setTimeout(() => {
      readTimers.delete(id);
      if (isReadingNow(id)) sendRead(id);
    }, 150),
  );
}

async function sendRead(id) {
  const chat = chatState(id);
  const conv = app.conversations.get(id);
  const top = Math.max(chat.newestSeq, conv ? conv.max_seq || 0 : 0);
  if (!top || (conv && conv.read_seq >= top && !conv.unread)) return;
  try {
    const data = await api.put('/api/chat/read', { conversation_id: id, seq: top });
    myReads.set(id, Math.max(myReads.get(id) || 0, data.read_seq));
    const c = app.conversations.get(id);
    if (c) {
      c.read_seq = Math.max(c.read_seq || 0, data.read_seq);
      if (c.read_seq >= (c.max_seq || 0)) c.unread = 0;
      else refreshConversationsSoon();
    } else refreshConversationsSoon();
    app.emit('conversations');
    updateTitle();
  } catch {
    // retried at the next message or visit
  }
}

export async function loadReceipts(id) {
  const chat = chatState(id);
  const c = parseConv(id);
  try {
    if (c.kind === 'direct') {
      // (the docs say `seq` is optional for 1:1; the query side requires it)
      const data = await api.get(`/api/chat/receipts${api.qs({ conversation_id: id, seq: Math.max(1, chat.newestSeq) })}`);
      if (data.peer_read_seq !== null && data.peer_read_seq !== undefined) {
        chat.peerReadSeq = Math.max(chat.peerReadSeq || 0, data.peer_read_seq);
      }
    } else {
      // group read counts come by asking (no frames to the sender): the newest own messages
      const mine = [...chat.bySeq.values()]
        .filter((m) => m.sender_id === app.me && !m.recalled)
        .sort((a, b) => b.seq - a.seq)
        .slice(0, 5);
      const answers = await Promise.all(
        mine.map((m) => api.get(`/api/chat/receipts${api.qs({ conversation_id: id, seq: m.seq })}`).catch(() => null)),
      );
      mine.forEach((m, i) => {
        if (answers[i]) chat.groupReads.set(m.seq, answers[i].read_count);
      });
    }
    app.emit('chat', { id, receipts: true });
  } catch {
    // shown again at the next refresh
  }
}

const loadReceiptsSoon = debounce((id) => loadReceipts(id), 400);

// ---- typing ----------------------------------------------------------------------------

const lastTyping = new Map();
export function notifyTyping(id) {
  const now = Date.now();
  if (now - (lastTyping.get(id) || 0) < TYPING_EVERY_MS) return;
  if (app.socket && app.socket.send('typing', { conversation_id: id })) lastTyping.set(id, now);
}

export function typers(id) {
  const m = app.typing.get(id);
  return m ? [...m.keys()] : [];
}

function setTyping(id, userId, on) {
  if (!app.typing.has(id)) app.typing.set(id, new Map());
  const m = app.typing.get(id);
  clearTimeout(m.get(userId));
  if (on) m.set(userId, setTimeout(() => setTyping(id, userId, false), TYPING_SHOWN_MS));
  else if (!m.has(userId)) return;
  else m.delete(userId);
  app.emit('typing', { id });
}

// ---- frames ----------------------------------------------------------------------------

function onFrame({ type, data }) {
  switch (type) {
    case 'message':
      onMessage(data);
      break;
    case 'message.recalled':
      applyRecall(data.conversation_id, data.message_id);
      break;
    case 'message.edited':
      applyEdit(data.conversation_id, data.message_id, data.content, null);
      break;
    case 'message.deleted':
      removeMessage(data.conversation_id, data.message_id);
      break;
    case 'conversation.cleared': {
      const chat = chatState(data.conversation_id);
      for (const [seq, m] of chat.bySeq) {
        if (seq <= data.up_to_seq) {
          chat.bySeq.delete(seq);
          chat.byId.delete(m.message_id);
        }
      }
      chat.hasMoreOlder = false;
      app.emit('chat', { id: data.conversation_id });
      refreshConversationsSoon();
      break;
    }
    case 'reaction.added':
    case 'reaction.removed': {
      const chat = chatState(data.conversation_id);
      const m = chat.byId.get(data.message_id);
      if (m && data.user_id !== app.me) {
        const r = { ...(m.reactions || {}) };
        r[data.emoji] = Math.max(0, (r[data.emoji] || 0) + (type === 'reaction.added' ? 1 : -1));
        if (!r[data.emoji]) delete r[data.emoji];
        m.reactions = r;
        m._rev += 1;
        app.emit('chat', { id: data.conversation_id });
      } else if (m && data.user_id === app.me) {
        // my other device: the REST answer there carried the counts; re-read them here
        const set = new Set(m.my_reactions || []);
        const had = set.has(data.emoji);
        if (type === 'reaction.added' && !had) {
          set.add(data.emoji);
          m.reactions = { ...(m.reactions || {}), [data.emoji]: (m.reactions?.[data.emoji] || 0) + 1 };
        } else if (type === 'reaction.removed' && had) {
          set.delete(data.emoji);
          const r = { ...(m.reactions || {}) };
          r[data.emoji] = Math.max(0, (r[data.emoji] || 0) - 1);
          if (!r[data.emoji]) delete r[data.emoji];
          m.reactions = r;
        }
        m.my_reactions = [...set];
        m._rev += 1;
        app.emit('chat', { id: data.conversation_id });
      }
      break;
    }
    case 'conversation.read': {
      const chat = chatState(data.conversation_id);
      if (data.user_id === app.me) {
        myReads.set(data.conversation_id, Math.max(myReads.get(data.conversation_id) || 0, data.seq));
        const c = app.conversations.get(data.conversation_id);
        if (c && data.seq > (c.read_seq || 0)) {
          c.read_seq = data.seq;
          if (data.seq >= (c.max_seq || 0)) c.unread = 0;
          else refreshConversationsSoon();
          app.emit('conversations');
          updateTitle();
        }
      } else {
        chat.peerReadSeq = Math.max(chat.peerReadSeq || 0, data.seq);
        app.emit('chat', { id: data.conversation_id, receipts: true });
      }
      break;
    }
    case 'conversation.settings':
      refreshConversationsSoon();
      break;
    case 'typing':
      if (data.user_id !== app.me) {
        ensureProfiles([data.user_id]);
        setTyping(data.conversation_id, data.user_id, true);
      }
      break;
    case 'presence':
      app.online.set(data.user_id, data.online);
      app.emit('presence');
      break;
    case 'friend':
      friendsChanged(data.event);
      if (data.event === 'FriendRequestAccepted') refreshConversationsSoon();
      break;
    case 'group':
      groupsChanged();
      refreshConversationsSoon();
      app.emit('group-changed', data);
      break;
    case 'sync.required':
      syncConversations({ [data.conversation_id]: chatState(data.conversation_id).newestSeq || data.last_seq || 0 });
      break;
    case 'notification':
      app.emit('notification', data);
      break;
    case 'notification.badge':
      app.badge = { ...app.badge, ...data };
      app.emit('badge');
      break;
    case 'moment.new':
      app.momentsDot = true;
      app.emit('moments', { type, data });
      break;
    case 'moment.activity':
      app.emit('moments', { type, data });
      break;
    default:
      break;
  }
}

function onMessage(m) {
  const chat = chatState(m.conversation_id);
  if (m.sender_id !== app.me) setTyping(m.conversation_id, m.sender_id, false);
  if (chat.loaded) {
    const gap = m.seq > chat.newestSeq + 1 && chat.newestSeq > 0;
    const full = put(chat, m);
    if (gap) fillGap(chat, m.seq);
    app.emit('chat', { id: m.conversation_id, incoming: m.sender_id !== app.me });
    touchConversation(full);
  } else {
    touchConversation(m);
  }
  if (m.sender_id !== app.me && m.type !== 'system') {
    ensureProfiles([m.sender_id]);
    const where = m.conversation_id.startsWith('group:') ? ` in ${convTitle(m.conversation_id)}` : '';
    announce(`New message from ${displayName(m.sender_id)}${where}: ${preview(m).slice(0, 140)}`);
  }
  if (isReadingNow(m.conversation_id)) markRead(m.conversation_id);
}
