// Friends (docs/social.md): the list (open a chat, remove), requests in and
// out (accept / reject), and finding people to ask.

import * as api from '../api.js';
import { app, displayName, directId, loadFriends, ensureProfiles, incomingRequests } from '../state.js';
import { h, clear, statusLine, initials, timeEl } from '../dom.js';

export function mount(root) {
  const status = statusLine();
  const incoming = h('ul', { class: 'people', 'aria-labelledby': 'incoming-heading' });
  const outgoing = h('ul', { class: 'people', 'aria-labelledby': 'outgoing-heading' });
  const friends = h('ul', { class: 'people', 'aria-labelledby': 'friends-heading' });
  const results = h('ul', { class: 'people', 'aria-label': 'Search results' });
  const resultsStatus = statusLine();
  const searchInput = h('input', { id: 'friend-search', name: 'q', type: 'search', autocomplete: 'off', required: true, placeholder: 'username, nickname, e-mail' });
  const messageInput = h('input', { id: 'friend-message', name: 'message', maxlength: 200, placeholder: 'Hi, it’s me!' });

  const searchForm = h(
    'form',
    { class: 'search', role: 'search', 'aria-labelledby': 'find-heading' },
    h('div', { class: 'field' }, h('label', { for: 'friend-search' }, 'Find people'), searchInput),
    h('div', { class: 'field' }, h('label', { for: 'friend-message' }, 'Message with your request (optional)'), messageInput),
    h('button', { type: 'submit' }, 'Search'),
  );
  searchForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = searchInput.value.trim();
    if (!q) return;
    resultsStatus.show('Searching…');
    try {
      const data = await api.get(`/api/user/search${api.qs({ q, limit: 20 })}`);
      renderResults(data.users);
      resultsStatus.show(data.users.length ? `${data.users.length} found` : 'Nobody found');
    } catch (err) {
      resultsStatus.show(err.message, true);
    }
  });

  let lastResults = [];
  function renderResults(users) {
    lastResults = users;
    clear(results);
    const friendIds = new Set(app.friends.map((f) => f.user_id));
    const pendingOut = new Set(app.requests.filter((r) => r.from_user_id === app.me && r.status === 'pending').map((r) => r.to_user_id));
    for (const u of users) {
      app.profiles.set(u.user_id, { ...(app.profiles.get(u.user_id) || {}), ...u });
      let action;
      if (u.user_id === app.me) action = h('span', { class: 'muted' }, 'You');
      else if (friendIds.has(u.user_id)) action = h('a', { class: 'button small', href: `#/chat/${encodeURIComponent(directId(app.me, u.user_id))}` }, 'Message');
      else if (pendingOut.has(u.user_id)) action = h('span', { class: 'muted' }, 'Request sent');
      else
        action = h(
          'button',
          {
            type: 'button',
            class: 'small primary',
            'aria-label': `Add ${u.nickname || u.username} as a friend`,
            onclick: (e) => addFriend(u, e.currentTarget),
          },
          'Add friend',
        );
      results.append(person(u.user_id, u.nickname || u.username, `@${u.username}`, action));
    }
  }

  async function addFriend(u, button) {
    button.disabled = true;
    try {
      const body = { to_user_id: u.user_id };
      if (messageInput.value.trim()) body.message = messageInput.value.trim();
      const data = await api.post('/api/friend/requests', body);
      status.show(data.status === 'accepted' ? `You and ${u.nickname || u.username} are now friends.` : `Friend request sent to ${u.nickname || u.username}.`);
      await loadFriends();
      renderResults(lastResults);
    } catch (err) {
      const why = { already_friends: 'You are already friends.', request_pending: 'Your request is waiting for an answer.', not_accepting_requests: 'This person does not accept requests.', user_blocked: 'You blocked this person.' }[err.kind];
      status.show(why || err.message, true);
      button.disabled = false;
    }
  }

  async function decide(r, verb) {
    try {
      await api.post(`/api/friend/requests/${r.request_id}/${verb}`);
      status.show(verb === 'accept' ? `You and ${displayName(r.from_user_id)} are now friends.` : 'Request declined.');
      await loadFriends();
    } catch (err) {
      status.show(err.message, true);
    }
  }

  async function unfriend(f) {
    if (!confirm(`Remove ${displayName(f.user_id)} from your friends?`)) return;
    try {
      await api.del(`/api/friend/${f.user_id}`);
      status.show(`${displayName(f.user_id)} is no longer your friend.`);
      await loadFriends();
    } catch (err) {
      status.show(err.message, true);
    }
  }

  function render() {
    clear(incoming);
    clear(outgoing);
    clear(friends);
    const inc = incomingRequests();
    for (const r of inc) {
      incoming.append(
        person(
          r.from_user_id,
          displayName(r.from_user_id),
          r.message ? `“${r.message}”` : 'wants to be your friend',
          h(
            'span',
            { class: 'actions' },
            h('button', { type: 'button', class: 'small primary', 'aria-label': `Accept ${displayName(r.from_user_id)}`, onclick: () => decide(r, 'accept') }, 'Accept'),
            h('button', { type: 'button', class: 'small', 'aria-label': `Decline ${displayName(r.from_user_id)}`, onclick: () => decide(r, 'reject') }, 'Decline'),
          ),
        ),
      );
    }
    incomingSection.hidden = inc.length === 0;
    const out = app.requests.filter((r) => r.from_user_id === app.me && r.status === 'pending');
    for (const r of out) outgoing.append(person(r.to_user_id, displayName(r.to_user_id), 'waiting for an answer', timeEl(r.created_at)));
    outgoingSection.hidden = out.length === 0;
    const list = [...app.friends].sort((a, b) => displayName(a.user_id).localeCompare(displayName(b.user_id)));
    for (const f of list) {
      const online = app.online.get(f.user_id);
      friends.append(
        person(
          f.user_id,
          displayName(f.user_id),
          `@${f.username}${online ? ' · online' : ''}`,
          h(
            'span',
            { class: 'actions' },
            h('a', { class: 'button small primary', href: `#/chat/${encodeURIComponent(directId(app.me, f.user_id))}`, 'aria-label': `Message ${displayName(f.user_id)}` }, 'Message'),
            h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${displayName(f.user_id)}`, onclick: () => unfriend(f) }, 'Remove'),
          ),
          online,
        ),
      );
    }
    friendsEmpty.hidden = list.length > 0;
  }

  const incomingSection = h('section', { class: 'card', 'aria-labelledby': 'incoming-heading' }, h('h2', { id: 'incoming-heading' }, 'Friend requests'), incoming);
  const outgoingSection = h('section', { class: 'card', 'aria-labelledby': 'outgoing-heading' }, h('h2', { id: 'outgoing-heading' }, 'Sent requests'), outgoing);
  const friendsEmpty = h('p', { class: 'empty' }, 'No friends yet: find people above.');

  root.append(
    h(
      'div',
      { class: 'page' },
      h('h1', {}, 'Friends'),
      status,
      h('section', { class: 'card', 'aria-labelledby': 'find-heading' }, h('h2', { id: 'find-heading' }, 'Add a friend'), searchForm, resultsStatus, results),
      incomingSection,
      h('section', { class: 'card', 'aria-labelledby': 'friends-heading' }, h('h2', { id: 'friends-heading' }, 'Your friends'), friends, friendsEmpty),
      outgoingSection,
    ),
  );
  render();
  const offs = [app.on('friends', render), app.on('profiles', render), app.on('presence', render)];
  loadFriends().catch(() => {});
  ensureProfiles(app.requests.map((r) => r.from_user_id));
  return () => offs.forEach((f) => f());
}

export function person(userId, name, sub, action, online = false) {
  return h(
    'li',
    { class: 'person', dataset: { user: userId } },
    h('span', { class: 'avatar' + (online ? ' online' : ''), 'aria-hidden': 'true' }, initials(name)),
    h('span', { class: 'person-main' }, h('span', { class: 'person-name' }, name), sub ? h('span', { class: 'person-sub' }, sub) : null),
    action || null,
  );
}
