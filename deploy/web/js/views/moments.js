// Moments (docs/services.md, "Moments"): the friends' timeline, posting
// text and photos, likes and comments.

import * as api from '../api.js';
import { app, displayName, ensureProfiles } from '../state.js';
import { h, clear, statusLine, timeEl, initials } from '../dom.js';
import { upload, loadInto } from '../files.js';

export function mount(root) {
  app.momentsDot = false;
  app.emit('moments', { type: 'seen' });
  const status = statusLine();
  const list = h('ol', { class: 'moments', 'aria-labelledby': 'moments-heading' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => load(false) }, 'Show older');
  const fresh = h('button', { type: 'button', class: 'small', hidden: true, onclick: () => load(true) }, 'New posts: show them');
  let moments = [];
  let nextBefore = null;

  const text = h('textarea', { id: 'moment-text', name: 'text', rows: '3', maxlength: '2000' });
  const photos = h('input', { id: 'moment-photos', type: 'file', accept: 'image/*,video/*', multiple: true });
  const visibility = h(
    'select',
    { id: 'moment-visibility' },
    h('option', { value: 'friends' }, 'All friends'),
    h('option', { value: 'private' }, 'Only me'),
  );
  const form = h(
    'form',
    { class: 'post', 'aria-labelledby': 'post-heading' },
    h('div', { class: 'field' }, h('label', { for: 'moment-text' }, 'What’s new?'), text),
    h('div', { class: 'field' }, h('label', { for: 'moment-photos' }, 'Photos or videos (up to 9)'), photos),
    h('div', { class: 'field' }, h('label', { for: 'moment-visibility' }, 'Who can see it'), visibility),
    h('button', { type: 'submit', class: 'primary' }, 'Post'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const files = [...photos.files].slice(0, 9);
    if (!text.value.trim() && !files.length) {
      status.show('Write something or add a photo.', true);
      return;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const media = [];
      for (const [i, f] of files.entries()) {
        status.show(`Uploading ${i + 1} of ${files.length}…`);
        const up = await upload(f, 'moment');
        media.push({ file_id: up.file_id });
      }
      const body = { visibility: visibility.value };
      if (text.value.trim()) body.text = text.value.trim();
      if (media.length) body.media = media;
      await api.post('/api/moment', body);
      form.reset();
      status.show('Posted.');
      await load(true);
    } catch (err) {
      status.show(err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  async function load(reset) {
    try {
      const data = await api.get(`/api/moment/timeline${api.qs({ limit: 20, before: reset ? null : nextBefore })}`);
      moments = reset ? data.moments : moments.concat(data.moments);
      nextBefore = data.next_before;
      fresh.hidden = true;
      await ensureProfiles(moments.flatMap((m) => [m.author_id, ...m.likes, ...m.comments.map((c) => c.user_id)]));
      render();
    } catch (err) {
      status.show(err.message, true);
    }
  }

  async function reload(m) {
    try {
      const fresh1 = await api.get(`/api/moment/${m.moment_id}`);
      moments = moments.map((x) => (x.moment_id === m.moment_id ? fresh1 : x));
      await ensureProfiles([...fresh1.likes, ...fresh1.comments.map((c) => c.user_id)]);
      render();
    } catch (err) {
      status.show(err.message, true);
    }
  }

  function renderMoment(m) {
    const author = displayName(m.author_id);
    const commentInput = h('input', { id: `c-${m.moment_id}`, maxlength: 500, autocomplete: 'off' });
    const commentForm = h(
      'form',
      { class: 'comment-form' },
      h('label', { for: `c-${m.moment_id}`, class: 'visually-hidden' }, `Comment on ${author}’s moment`),
      commentInput,
      h('button', { type: 'submit', class: 'small' }, 'Comment'),
    );
    commentForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!commentInput.value.trim()) return;
      try {
        await api.post(`/api/moment/${m.moment_id}/comments`, { text: commentInput.value.trim() });
        await reload(m);
      } catch (err) {
        status.show(err.message, true);
      }
    });
    const media = h('div', { class: 'media' });
    for (const x of m.media || []) {
      if (x.kind === 'image') {
        const img = h('img', { alt: `Photo by ${author}`, width: x.width || null, height: x.height || null });
        loadInto(img, `${x.url}?thumb=1`);
        media.append(img);
      } else media.append(h('p', {}, `[${x.kind}]`));
    }
    return h(
      'li',
      { class: 'moment card', dataset: { id: m.moment_id } },
      h('header', {}, h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(author)), h('strong', {}, author), ' ', timeEl(m.created_at)),
      m.text ? h('p', { class: 'moment-text' }, m.text) : null,
      m.media && m.media.length ? media : null,
      h(
        'p',
        { class: 'moment-actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'small',
            'aria-pressed': m.liked ? 'true' : 'false',
            onclick: () => (m.liked ? api.del(`/api/moment/${m.moment_id}/like`) : api.put(`/api/moment/${m.moment_id}/like`)).then(() => reload(m)).catch((e) => status.show(e.message, true)),
          },
          m.liked ? 'Unlike' : 'Like',
        ),
        m.like_count ? h('span', { class: 'likes' }, ` ♥ ${m.likes.map(displayName).join(', ')}`) : null,
        m.author_id === app.me
          ? h('button', { type: 'button', class: 'small link', onclick: () => confirm('Delete this moment?') && api.del(`/api/moment/${m.moment_id}`).then(() => load(true)) }, 'Delete')
          : null,
      ),
      m.comments.length
        ? h(
            'ul',
            { class: 'comments', 'aria-label': 'Comments' },
            m.comments.map((c) => h('li', {}, h('strong', {}, displayName(c.user_id)), c.reply_to_user_id ? ` to ${displayName(c.reply_to_user_id)}` : '', `: ${c.text}`)),
          )
        : null,
      commentForm,
    );
  }

  function render() {
    clear(list);
    for (const m of moments) list.append(renderMoment(m));
    if (!moments.length) list.append(h('li', { class: 'empty' }, 'No moments yet.'));
    more.hidden = !nextBefore;
  }

  root.append(
    h(
      'div',
      { class: 'page' },
      h('h1', { id: 'moments-heading' }, 'Moments'),
      h('section', { class: 'card', 'aria-labelledby': 'post-heading' }, h('h2', { id: 'post-heading' }, 'Share a moment'), form),
      status,
      fresh,
      list,
      more,
    ),
  );
  const offs = [
    app.on('moments', (d) => {
      if (d.type === 'moment.new') {
        if (!moments.some((x) => x.moment_id === d.data.moment_id)) fresh.hidden = false;
        app.momentsDot = false;
      } else if (d.type === 'moment.activity') {
        const m = moments.find((x) => x.moment_id === d.data.moment_id);
        if (m) reload(m);
      }
    }),
    app.on('profiles', render),
  ];
  load(true);
  return () => offs.forEach((f) => f());
}
