// The inbox (docs/services.md, "Notifications"): friend requests, group
// changes, moment activity, missed calls, announcements; the badge in the
// top bar comes from `notification.badge` frames.

import * as api from '../api.js';
import { app, displayName, ensureProfiles, loadBadge } from '../state.js';
import { h, clear, statusLine, timeEl, debounce } from '../dom.js';

const CATEGORIES = [
  ['', 'All'],
  ['social', 'Friends'],
  ['group', 'Groups'],
  ['moment', 'Moments'],
  ['call', 'Calls'],
  ['system', 'System'],
];

export function mount(root) {
  const status = statusLine();
  const list = h('ul', { class: 'inbox', 'aria-labelledby': 'inbox-heading' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load(false) }, 'Show older');
  const filter = h('select', { id: 'inbox-filter' }, CATEGORIES.map(([v, l]) => h('option', { value: v }, l)));
  let items = [];
  let nextBefore = null;

  filter.addEventListener('change', () => load(true));

  async function load(reset) {
    try {
      const data = await api.get(`/api/notification${api.qs({ category: filter.value, limit: 20, before: reset ? null : nextBefore })}`);
      items = reset ? data.items : items.concat(data.items);
      nextBefore = data.next_before;
      await ensureProfiles(items.flatMap((i) => i.actors || []));
      render();
    } catch (err) {
      status.show(err.message, true);
    }
  }

  function describe(n) {
    const who = (n.actors || []).map(displayName);
    const actor = who.length ? who[0] + (n.actor_count > 1 ? ` and ${n.actor_count - 1} more` : '') : 'Someone';
    const group = n.target && n.target.type === 'group' ? app.groups.get(n.target.id) : null;
    const gname = group ? `“${group.name}”` : 'a group';
    switch (n.kind) {
      case 'friend_request':
        return `${actor} wants to be your friend` + (n.text ? `: “${n.text}”` : '');
      case 'friend_accepted':
        return `${actor} accepted your friend request`;
      case 'added':
        return `${actor} added you to ${gname}`;
      case 'removed':
        return `${actor} removed you from ${gname}`;
      case 'join_request':
        return `${actor} asked to join ${gname}` + (n.text ? `: “${n.text}”` : '');
      case 'join_approved':
        return `${actor} let you into ${gname}`;
      case 'join_rejected':
        return `${actor} declined your request to join ${gname}`;
      case 'moment_liked':
        return `${actor} liked your moment`;
      case 'moment_commented':
        return `${actor} commented on your moment`;
      case 'moment_replied':
        return `${actor} replied to your comment`;
      case 'call_missed':
        return `Missed call from ${actor}`;
      case 'announcement':
        return n.text || 'Announcement';
      default:
        return n.text || n.kind;
    }
  }

  function link(n) {
    const t = n.target || {};
    if (t.type === 'friend_request' || t.type === 'user') return '#/friends';
    if (t.type === 'group') return `#/groups/${t.id}`;
    if (t.type === 'moment') return '#/moments';
    return null;
  }

  function render() {
    clear(list);
    for (const n of items) {
      const href = link(n);
      const text = describe(n);
      list.append(
        h(
          'li',
          { class: 'inbox-item' + (n.read ? '' : ' unread'), dataset: { id: n.notification_id } },
          n.read ? null : h('span', { class: 'visually-hidden' }, 'Unread: '),
          href ? h('a', { href }, text) : h('span', {}, text),
          ' ',
          timeEl(n.updated_at || n.created_at),
          h(
            'button',
            {
              type: 'button',
              class: 'link small',
              'aria-label': `Delete: ${text}`,
              onclick: () =>
                api
                  .del(`/api/notification/${n.notification_id}`)
                  .then(() => {
                    items = items.filter((i) => i !== n);
                    render();
                    loadBadge();
                  })
                  .catch((e) => status.show(e.message, true)),
            },
            'Delete',
          ),
        ),
      );
    }
    if (!items.length) list.append(h('li', { class: 'empty' }, 'Nothing here.'));
    more.hidden = !nextBefore;
  }

  async function markAll() {
    try {
      await api.post('/api/notification/read', filter.value ? { category: filter.value } : { all: true });
      items.forEach((i) => (i.read = true));
      render();
      loadBadge();
      status.show('All marked as read.');
    } catch (err) {
      status.show(err.message, true);
    }
  }

  root.append(
    h(
      'div',
      { class: 'page' },
      h('h1', { id: 'inbox-heading' }, 'Notifications'),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'inbox-filter' }, 'Show'),
        filter,
        h('button', { type: 'button', onclick: markAll }, 'Mark all as read'),
      ),
      status,
      list,
      more,
    ),
  );
  // the item frame may come before the inbox shows it; the badge frame comes after
  const reload = debounce(() => load(true), 200);
  const offs = [app.on('notification', reload), app.on('badge', reload), app.on('profiles', render), app.on('groups', render)];
  load(true);
  return () => offs.forEach((f) => f());
}
