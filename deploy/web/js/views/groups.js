// Groups (docs/social.md): your groups, creating one with friends, and a
// group's page: members and roles, adding friends, removing members,
// leaving, dissolving, opening the group chat.

import * as api from '../api.js';
import { app, displayName, loadGroups } from '../state.js';
import { h, clear, statusLine, initials } from '../dom.js';
import { person } from './friends.js';

export function mount(root, params) {
  return params.id ? mountGroup(root, params.id) : mountList(root);
}

function mountList(root) {
  const status = statusLine();
  const list = h('ul', { class: 'people', 'aria-labelledby': 'groups-heading' });
  const empty = h('p', { class: 'empty' }, 'You are in no group yet.');
  const picks = h('fieldset', { class: 'picks' });
  const nameInput = h('input', { id: 'group-name', name: 'name', required: true, maxlength: 64, autocomplete: 'off' });
  const policy = h(
    'select',
    { id: 'group-policy', name: 'join_policy' },
    h('option', { value: 'approval' }, 'Admins approve who joins'),
    h('option', { value: 'free' }, 'Anyone may join'),
    h('option', { value: 'closed' }, 'Closed: invitation only'),
  );
  const form = h(
    'form',
    { class: 'create-group', 'aria-labelledby': 'create-heading' },
    h('div', { class: 'field' }, h('label', { for: 'group-name' }, 'Group name'), nameInput),
    picks,
    h('div', { class: 'field' }, h('label', { for: 'group-policy' }, 'Who may join'), policy),
    h('button', { type: 'submit', class: 'primary' }, 'Create group'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      status.show('Give the group a name.', true);
      nameInput.focus();
      return;
    }
    const member_ids = [...picks.querySelectorAll('input:checked')].map((i) => i.value);
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const g = await api.post('/api/group', { name, member_ids, join_policy: policy.value });
      status.show(`Group “${name}” created.`);
      await loadGroups();
      location.hash = `#/chat/${encodeURIComponent(g.conversation_id)}`;
    } catch (err) {
      status.show(err.kind === 'not_friends' ? 'Members must be your friends.' : err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  function renderPicks() {
    const checked = new Set([...picks.querySelectorAll('input:checked')].map((i) => i.value));
    clear(picks);
    picks.append(h('legend', {}, 'Members (your friends)'));
    if (!app.friends.length) picks.append(h('p', { class: 'hint' }, 'Add friends first to create a group with them.'));
    for (const f of app.friends) {
      const id = `pick-${f.user_id}`;
      picks.append(
        h('div', { class: 'check' }, h('input', { type: 'checkbox', id, value: f.user_id, checked: checked.has(f.user_id) }), h('label', { for: id }, displayName(f.user_id))),
      );
    }
  }

  function render() {
    clear(list);
    const groups = [...app.groups.values()].filter((g) => g.mine).sort((a, b) => a.name.localeCompare(b.name));
    for (const g of groups) {
      list.append(
        h(
          'li',
          { class: 'person', dataset: { group: g.group_id } },
          h('span', { class: 'avatar group', 'aria-hidden': 'true' }, initials(g.name)),
          h('span', { class: 'person-main' }, h('span', { class: 'person-name' }, g.name), h('span', { class: 'person-sub' }, `${g.member_count} members · ${g.role || g.my_role || ''}`)),
          h(
            'span',
            { class: 'actions' },
            h('a', { class: 'button small primary', href: `#/chat/${encodeURIComponent(g.conversation_id)}`, 'aria-label': `Open the chat of ${g.name}` }, 'Open chat'),
            h('a', { class: 'button small', href: `#/groups/${g.group_id}`, 'aria-label': `Members of ${g.name}` }, 'Members'),
          ),
        ),
      );
    }
    empty.hidden = groups.length > 0;
  }

  root.append(
    h(
      'div',
      { class: 'page' },
      h('h1', {}, 'Groups'),
      status,
      h('section', { class: 'card', 'aria-labelledby': 'groups-heading' }, h('h2', { id: 'groups-heading' }, 'Your groups'), list, empty),
      h('section', { class: 'card', 'aria-labelledby': 'create-heading' }, h('h2', { id: 'create-heading' }, 'Create a group'), form),
    ),
  );
  render();
  renderPicks();
  const offs = [app.on('groups', render), app.on('friends', renderPicks), app.on('profiles', renderPicks)];
  loadGroups().catch(() => {});
  return () => offs.forEach((f) => f());
}

function mountGroup(root, groupId) {
  const status = statusLine();
  const heading = h('h1', {}, 'Group');
  const info = h('p', { class: 'group-info' });
  const announcement = h('p', { class: 'announcement' });
  const actions = h('div', { class: 'actions' });
  const members = h('ul', { class: 'people', 'aria-labelledby': 'members-heading' });
  const addBox = h('section', { class: 'card', 'aria-labelledby': 'add-heading' });
  let group = null;
  let memberList = [];

  async function load() {
    try {
      const [g, m] = await Promise.all([api.get(`/api/group/${groupId}`), api.get(`/api/group/${groupId}/members${api.qs({ limit: 200 })}`).catch(() => ({ members: [] }))]);
      group = g;
      memberList = m.members;
      for (const u of memberList) app.profiles.set(u.user_id, { ...(app.profiles.get(u.user_id) || {}), ...u, remark: (app.profiles.get(u.user_id) || {}).remark });
      render();
    } catch (err) {
      status.show(err.status === 404 ? 'This group does not exist (any more).' : err.message, true);
    }
  }

  const canManage = () => group && (group.my_role === 'owner' || group.my_role === 'admin');

  async function run(fn, done) {
    try {
      await fn();
      if (done) status.show(done);
      await load();
      loadGroups().catch(() => {});
    } catch (err) {
      status.show(err.message, true);
    }
  }

  function render() {
    if (!group) return;
    heading.textContent = group.name;
    info.textContent = `${group.member_count} of ${group.max_members} members · ${{ free: 'anyone may join', approval: 'admins approve who joins', closed: 'invitation only' }[group.join_policy]}${group.my_role ? ` · you are ${group.my_role}` : ''}`;
    announcement.textContent = group.announcement || '';
    announcement.hidden = !group.announcement;
    clear(actions);
    if (group.my_role) {
      actions.append(h('a', { class: 'button primary', href: `#/chat/${encodeURIComponent(group.conversation_id)}` }, 'Open chat'));
      if (group.my_role !== 'owner') {
        actions.append(
          h('button', { type: 'button', onclick: () => confirm(`Leave “${group.name}”?`) && run(() => api.post(`/api/group/${groupId}/leave`), 'You left the group.') }, 'Leave group'),
        );
      } else {
        actions.append(
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              onclick: () =>
                confirm(`Dissolve “${group.name}” for everyone?`) &&
                api
                  .del(`/api/group/${groupId}`)
                  .then(() => loadGroups())
                  .then(() => (location.hash = '#/groups'))
                  .catch((e) => status.show(e.message, true)),
            },
            'Dissolve group',
          ),
        );
      }
    } else {
      actions.append(
        h(
          'button',
          { type: 'button', class: 'primary', onclick: () => run(() => api.post(`/api/group/${groupId}/join`, {}).then((r) => status.show(r.status === 'joined' ? 'You joined.' : 'Your request was sent.'))) },
          'Join group',
        ),
      );
    }
    clear(members);
    const rank = { owner: 0, admin: 1, member: 2 };
    for (const m of memberList) {
      const name = m.user_id === app.me ? `${displayName(m.user_id)} (you)` : displayName(m.user_id);
      const act = h('span', { class: 'actions' });
      if (canManage() && m.user_id !== app.me && rank[m.role] > rank[group.my_role]) {
        act.append(h('button', { type: 'button', class: 'small', 'aria-label': `Remove ${displayName(m.user_id)} from the group`, onclick: () => run(() => api.del(`/api/group/${groupId}/members/${m.user_id}`), `${displayName(m.user_id)} was removed.`) }, 'Remove'));
      }
      if (group.my_role === 'owner' && m.user_id !== app.me) {
        const next = m.role === 'admin' ? 'member' : 'admin';
        act.append(h('button', { type: 'button', class: 'small', onclick: () => run(() => api.put(`/api/group/${groupId}/members/${m.user_id}/role`, { role: next }), `${displayName(m.user_id)} is now ${next}.`) }, next === 'admin' ? 'Make admin' : 'Make member'));
      }
      members.append(person(m.user_id, name, m.role + (m.group_nickname ? ` · “${m.group_nickname}”` : ''), act));
    }
    renderAdd();
  }

  function renderAdd() {
    clear(addBox);
    if (!group || !group.my_role) {
      addBox.hidden = true;
      return;
    }
    const inGroup = new Set(memberList.map((m) => m.user_id));
    const candidates = app.friends.filter((f) => !inGroup.has(f.user_id));
    addBox.hidden = false;
    addBox.append(h('h2', { id: 'add-heading' }, 'Add friends'));
    if (!candidates.length) {
      addBox.append(h('p', { class: 'hint' }, 'All your friends are in this group.'));
      return;
    }
    const fs = h('fieldset', { class: 'picks' }, h('legend', { class: 'visually-hidden' }, 'Friends to add'));
    for (const f of candidates) {
      const id = `add-${f.user_id}`;
      fs.append(h('div', { class: 'check' }, h('input', { type: 'checkbox', id, value: f.user_id }), h('label', { for: id }, displayName(f.user_id))));
    }
    const form = h('form', {}, fs, h('button', { type: 'submit' }, 'Add to group'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const user_ids = [...fs.querySelectorAll('input:checked')].map((i) => i.value);
      if (!user_ids.length) return;
      run(
        () =>
          api.post(`/api/group/${groupId}/members`, { user_ids }).then((r) => {
            if (r.requested && r.requested.length) status.show(`${r.requested.length} request(s) wait for an admin.`);
          }),
        'Added.',
      );
    });
    addBox.append(form);
  }

  root.append(
    h(
      'div',
      { class: 'page' },
      h('p', {}, h('a', { href: '#/groups' }, '‹ Groups')),
      heading,
      info,
      announcement,
      actions,
      status,
      h('section', { class: 'card', 'aria-labelledby': 'members-heading' }, h('h2', { id: 'members-heading' }, 'Members'), members),
      addBox,
    ),
  );
  const offs = [
    app.on('profiles', render),
    app.on('friends', renderAdd),
    app.on('group-changed', (d) => {
      if (d.group_id === groupId) load();
    }),
  ];
  load();
  return () => offs.forEach((f) => f());
}
