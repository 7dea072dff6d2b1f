// The conversation list (unread badges, live) and the chat view: history
// paging, sending (text, attachments), live delivery, typing, read receipts,
// recall / edit / reactions / delete for me.

import {
  app,
  NIL,
  conversationList,
  convTitle,
  displayName,
  preview,
  systemText,
  parseConv,
  openChat,
  closeChat,
  loadOlder,
  messagesOf,
  getChat,
  sendMessage,
  retrySend,
  recall,
  edit,
  deleteForMe,
  toggleReaction,
  notifyTyping,
  typers,
  markRead,
  loadReceipts,
  setConversationSettings,
} from '../state.js';
import { h, clear, timeEl, shortTime, formatBytes, statusLine, initials, announce } from '../dom.js';
import { upload, loadInto, download, isFilePath, blobUrl } from '../files.js';

const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🎉'];
const RECALL_WINDOW_MS = 2 * 60 * 1000;
const EDIT_WINDOW_MS = 24 * 60 * 60 * 1000;

let view = null;

export function mount(root, params) {
  view = new ChatsView(root);
  view.setChat(params.id || null);
  return () => {
    view.destroy();
    view = null;
  };
}

/** Switching conversations keeps the list (and its scroll position). */
export function update(params) {
  if (!view) return false;
  view.setChat(params.id || null);
  return true;
}

class ChatsView {
  constructor(root) {
    this.root = root;
    this.id = null;
    this.nodes = new Map(); // message key -> {li, rev}
    this.editing = null;
    this.openMenu = null;
    this.offs = [
      app.on('conversations', () => this.renderList()),
      app.on('profiles', () => {
        this.renderList();
        this.renderHeader();
        this.renderMessages(true);
      }),
      app.on('groups', () => {
        this.renderList();
        this.renderHeader();
      }),
      app.on('presence', () => this.renderHeader()),
      app.on('connection', () => this.renderHeader()),
      app.on('chat', (d) => {
        if (d.id === this.id) this.renderMessages(false, d);
      }),
      app.on('typing', (d) => {
        if (d.id === this.id) this.renderTyping();
      }),
    ];

    this.list = h('ul', { class: 'conv-list', 'aria-labelledby': 'conv-heading' });
    this.listEmpty = h('p', { class: 'empty' });
    this.listPane = h(
      'section',
      { class: 'conv-pane', 'aria-labelledby': 'conv-heading' },
      h('div', { class: 'pane-head' }, h('h1', { id: 'conv-heading' }, 'Chats'), h('a', { class: 'button small', href: '#/friends' }, 'New chat')),
      this.list,
      this.listEmpty,
    );
    this.chatPane = h('section', { class: 'chat-pane', 'aria-labelledby': 'chat-heading' });
    this.el = h('div', { class: 'chats' }, this.listPane, this.chatPane);
    root.append(this.el);
    this.onKey = (e) => {
      if (e.key === 'Escape' && this.openMenu) {
        const btn = this.openMenu.btn;
        this.closeMenu();
        btn.focus();
      }
    };
    this.onDocClick = (e) => {
      if (this.openMenu && !this.openMenu.wrap.contains(e.target)) this.closeMenu();
    };
    document.addEventListener('keydown', this.onKey);
    document.addEventListener('click', this.onDocClick);
    this.renderList();
  }

  destroy() {
    this.offs.forEach((f) => f());
    clearInterval(this.receiptTimer);
    document.removeEventListener('keydown', this.onKey);
    document.removeEventListener('click', this.onDocClick);
    if (this.id) closeChat(this.id);
  }

  // ---- the list -------------------------------------------------------------------

  renderList() {
    const focusedKey = this.list.contains(document.activeElement) ? document.activeElement.dataset.conv : null;
    clear(this.list);
    const convs = conversationList();
    for (const c of convs) {
      const id = c.conversation_id;
      const title = convTitle(id);
      const lm = c.last_message;
      let line = '';
      if (lm) {
        const who = lm.sender_id === app.me ? 'You: ' : c.kind === 'group' && lm.sender_id !== NIL ? `${displayName(lm.sender_id)}: ` : '';
        if (lm.type === 'system') line = lm.text && lm.text !== '[system]' ? lm.text : 'Group update';
        else if (lm.text === '[recalled]') line = lm.sender_id === app.me ? 'You recalled a message' : `${displayName(lm.sender_id)} recalled a message`;
        else line = who + (lm.text || '');
      }
      const unread = c.unread || 0;
      const a = h(
        'a',
        {
          href: `#/chat/${encodeURIComponent(id)}`,
          class: 'conv' + (id === this.id ? ' active' : '') + (unread ? ' has-unread' : ''),
          'aria-current': id === this.id ? 'true' : false,
          dataset: { conv: id },
        },
        h('span', { class: 'avatar' + (c.kind === 'group' ? ' group' : ''), 'aria-hidden': 'true' }, initials(title)),
        h(
          'span',
          { class: 'conv-main' },
          h('span', { class: 'conv-title' }, title, c.pinned ? h('span', { class: 'tag' }, 'Pinned') : null, c.muted ? h('span', { class: 'tag' }, 'Muted') : null),
          h('span', { class: 'conv-preview' }, line),
        ),
        h(
          'span',
          { class: 'conv-side' },
          lm ? h('time', { datetime: lm.sent_at }, shortTime(lm.sent_at)) : null,
          unread ? h('span', { class: 'badge' + (c.muted ? ' muted' : '') }, unread > 99 ? '99+' : String(unread), h('span', { class: 'visually-hidden' }, ' unread')) : null,
        ),
      );
      this.list.append(h('li', {}, a));
    }
    this.listEmpty.textContent = !app.convLoaded ? 'Loading conversations…' : convs.length ? '' : 'No conversations yet. Find friends to start one.';
    this.listEmpty.hidden = convs.length > 0;
    if (focusedKey) {
      const again = this.list.querySelector(`[data-conv="${CSS.escape(focusedKey)}"]`);
      if (again) again.focus();
    }
  }

  // ---- the chat -----------------------------------------------------------------------

  setChat(id) {
    if (id === this.id) return;
    if (this.id) closeChat(this.id);
    clearInterval(this.receiptTimer);
    this.id = id;
    this.nodes.clear();
    this.editing = null;
    this.openMenu = null;
    this.el.classList.toggle('has-chat', Boolean(id));
    clear(this.chatPane);
    this.renderList();
    if (!id) {
      this.chatPane.append(h('div', { class: 'chat-empty' }, h('h2', { id: 'chat-heading' }, 'No conversation open'), h('p', {}, 'Choose a conversation, or start one from your friends or groups.')));
      return;
    }
    this.buildChat();
    openChat(id);
    if (parseConv(id).kind === 'group') {
      this.receiptTimer = setInterval(() => {
        if (document.visibilityState === 'visible') loadReceipts(id);
      }, 4000);
    }
    this.renderMessages(true);
  }

  buildChat() {
    const id = this.id;
    this.title = h('h2', { id: 'chat-heading' });
    this.subtitle = h('p', { class: 'subtitle' });
    this.headerActions = h('div', { class: 'chat-actions' });
    this.header = h(
      'header',
      { class: 'chat-head' },
      h('a', { class: 'back', href: '#/chats' }, h('span', { 'aria-hidden': 'true' }, '‹ '), 'Chats'),
      h('div', { class: 'chat-title' }, this.title, this.subtitle),
      this.headerActions,
    );
    this.olderBtn = h('button', { type: 'button', class: 'older', onclick: () => this.loadOlder() }, 'Load older messages');
    this.historyNote = h('p', { class: 'history-note', role: 'status' });
    this.messages = h('ol', { class: 'messages', 'aria-label': 'Messages' });
    this.scroller = h('div', { class: 'scroller', tabindex: '0', 'aria-label': 'Message history' }, this.olderBtn, this.historyNote, this.messages);
    this.scroller.addEventListener('scroll', () => {
      if (this.scroller.scrollTop < 80) this.loadOlder();
    });
    this.typingEl = h('p', { class: 'typing', 'aria-live': 'polite' });

    this.input = h('textarea', {
      id: 'composer-input',
      name: 'text',
      rows: '1',
      placeholder: 'Write a message',
      autocomplete: 'off',
      maxlength: '8192',
    });
    this.input.addEventListener('input', () => {
      this.autosize();
      if (this.input.value.trim() && !this.editing) notifyTyping(id);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.form.requestSubmit();
      } else if (e.key === 'Escape' && this.editing) {
        e.preventDefault();
        this.cancelEdit();
      }
    });
    this.input.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData ? e.clipboardData.files : [])];
      if (files.length) {
        e.preventDefault();
        files.forEach((f) => this.sendFile(f));
      }
    });
    this.fileInput = h('input', { type: 'file', id: 'composer-file', class: 'visually-hidden', multiple: true, tabindex: '-1', 'aria-hidden': 'true' });
    this.fileInput.addEventListener('change', () => {
      [...this.fileInput.files].forEach((f) => this.sendFile(f));
      this.fileInput.value = '';
    });
    this.editBar = h('div', { class: 'edit-bar', hidden: true });
    this.composerStatus = statusLine('composer-status');
    this.form = h(
      'form',
      { class: 'composer', 'aria-label': 'Send a message' },
      this.editBar,
      h(
        'div',
        { class: 'composer-row' },
        h('button', { type: 'button', class: 'attach', 'aria-label': 'Attach files', title: 'Attach files', onclick: () => this.fileInput.click() }, 'Attach'),
        h('label', { for: 'composer-input', class: 'visually-hidden' }, 'Message'),
        this.input,
        this.fileInput,
        h('button', { type: 'submit', class: 'primary send' }, 'Send'),
      ),
      this.composerStatus,
    );
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.chatPane.addEventListener('dragover', (e) => {
      if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault();
    });
    this.chatPane.addEventListener('drop', (e) => {
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      [...e.dataTransfer.files].forEach((f) => this.sendFile(f));
    });
    this.chatPane.append(this.header, this.scroller, this.typingEl, this.form);
    this.renderHeader();
    this.renderTyping();
    this.input.focus({ preventScroll: true });
  }

  renderHeader() {
    if (!this.id || !this.title) return;
    const id = this.id;
    const c = parseConv(id);
    this.title.textContent = convTitle(id);
    clear(this.subtitle);
    clear(this.headerActions);
    if (c.kind === 'direct') {
      const online = app.online.get(c.peer) && app.socket && app.socket.state === 'online';
      this.subtitle.textContent = online ? 'Online' : '';
    } else {
      const g = app.groups.get(c.groupId);
      this.subtitle.textContent = g ? `${g.member_count} members` : '';
      this.headerActions.append(h('a', { class: 'button small', href: `#/groups/${c.groupId}` }, 'Group info'));
    }
    const conv = app.conversations.get(id);
    if (conv) {
      this.headerActions.append(
        h(
          'button',
          {
            type: 'button',
            class: 'small',
            'aria-pressed': conv.muted ? 'true' : 'false',
            onclick: () => setConversationSettings(id, { muted: !conv.muted }).then(() => this.renderHeader()),
          },
          conv.muted ? 'Unmute' : 'Mute',
        ),
      );
    }
    document.title = `${convTitle(id)} – Beaver`;
  }

  renderTyping() {
    if (!this.typingEl) return;
    const names = typers(this.id).map(displayName);
    this.typingEl.textContent =
      names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : 'Several people are typing…';
  }

  // ---- messages -------------------------------------------------------------------------

  renderMessages(force = false, detail = {}) {
    if (!this.messages) return;
    const chat = getChat(this.id);
    const sc = this.scroller;
    const atBottom = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 60;
    const prevHeight = sc.scrollHeight;
    const prevTop = sc.scrollTop;
    const firstBefore = this.messages.firstElementChild;

    const list = messagesOf(this.id);
    const keep = new Set();
    let prev = null;
    let lastDay = null;
    const ordered = [];
    for (const m of list) {
      const day = m.sent_at ? new Date(m.sent_at).toDateString() : lastDay;
      if (day && day !== lastDay) {
        const dkey = `day:${day}`;
        keep.add(dkey);
        ordered.push(this.node(dkey, 0, () => h('li', { class: 'day' }, h('span', {}, day === new Date().toDateString() ? 'Today' : day))));
        lastDay = day;
      }
      const key = m.seq ? `s:${m.seq}` : `c:${m.client_msg_id}`;
      keep.add(key);
      const rev = `${m._rev}|${this.receiptText(chat, m)}|${force ? Math.random() : ''}|${groupedWith(prev, m)}`;
      ordered.push(this.node(key, rev, () => this.renderMessage(m, chat, groupedWith(prev, m))));
      prev = m;
    }
    for (const [key, n] of this.nodes) {
      if (!keep.has(key)) {
        n.li.remove();
        this.nodes.delete(key);
      }
    }
    // put the nodes in order, touching only those out of place
    let cursor = this.messages.firstElementChild;
    for (const li of ordered) {
      if (li === cursor) cursor = cursor.nextElementSibling;
      else this.messages.insertBefore(li, cursor);
    }

    this.olderBtn.hidden = !(chat.loaded && chat.hasMoreOlder);
    this.olderBtn.disabled = Boolean(chat.loading);
    this.olderBtn.textContent = chat.loading && chat.loaded ? 'Loading…' : 'Load older messages';
    if (!chat.loaded) this.historyNote.textContent = chat.error ? `Could not load messages: ${chat.error}` : 'Loading messages…';
    else if (!chat.hasMoreOlder && list.length) this.historyNote.textContent = 'Beginning of the conversation';
    else if (!list.length) this.historyNote.textContent = 'No messages yet. Say hello!';
    else this.historyNote.textContent = '';

    if (detail.older && firstBefore && firstBefore.isConnected) {
      sc.scrollTop = prevTop + (sc.scrollHeight - prevHeight);
    } else if (force || atBottom || detail.sent) {
      sc.scrollTop = sc.scrollHeight;
    }
  }

  node(key, rev, make) {
    const n = this.nodes.get(key);
    if (n && n.rev === rev) return n.li;
    const li = make();
    li.dataset.key = key;
    if (n) {
      const focusedAction = n.li.contains(document.activeElement) ? document.activeElement.dataset.action : null;
      n.li.replaceWith(li);
      if (focusedAction) {
        const again = li.querySelector(`[data-action="${focusedAction}"]`);
        if (again) again.focus();
      }
    }
    this.nodes.set(key, { li, rev });
    return li;
  }

  receiptText(chat, m) {
    if (m.sender_id !== app.me) return '';
    if (m.failed) return 'Not sent';
    if (m.pending || !m.seq) return 'Sending…';
    if (parseConv(this.id).kind === 'direct') return chat.peerReadSeq !== null && m.seq <= chat.peerReadSeq ? 'Read' : 'Sent';
    const n = chat.groupReads.get(m.seq);
    return n ? `Read by ${n}` : 'Sent';
  }

  renderMessage(m, chat, grouped) {
    if (m.type === 'system' || m.sender_id === NIL) {
      return h('li', { class: 'msg system', dataset: { seq: m.seq } }, h('p', {}, systemText(m), ' ', timeEl(m.sent_at)));
    }
    const mine = m.sender_id === app.me;
    const isGroup = parseConv(this.id).kind === 'group';
    const sender = mine ? 'You' : displayName(m.sender_id);
    const bodyId = `m-${m.seq || m.client_msg_id}-body`;
    const li = h('li', {
      class: `msg ${mine ? 'mine' : 'theirs'}${grouped ? ' grouped' : ''}${m.recalled ? ' recalled' : ''}${m.pending ? ' pending' : ''}${m.failed ? ' failed' : ''}`,
      dataset: { seq: m.seq || '', sender: m.sender_id },
      'aria-labelledby': bodyId,
    });
    const bubble = h('div', { class: 'bubble' });
    bubble.append(h('p', { class: 'sender' + (isGroup && !mine && !grouped ? '' : ' visually-hidden') }, sender));
    const body = h('div', { class: 'body', id: bodyId });
    if (m.recalled) body.append(h('p', { class: 'tombstone' }, mine ? 'You recalled a message' : `${sender} recalled a message`));
    else body.append(...this.renderContent(m, chat));
    bubble.append(body);

    const status = m.recalled ? '' : this.receiptText(chat, m);
    const meta = h(
      'p',
      { class: 'meta' },
      timeEl(m.sent_at),
      m.edited_at && !m.recalled ? h('span', { class: 'edited' }, ' · edited') : null,
      status ? h('span', { class: 'status' + (status.startsWith('Read') ? ' read' : '') }, ' · ', h('span', { class: 'status-text' }, status)) : null,
    );
    bubble.append(meta);
    if (m.failed) {
      bubble.append(
        h('p', { class: 'error' }, m.failed, ' ', h('button', { type: 'button', class: 'link', dataset: { action: 'retry' }, onclick: () => retrySend(this.id, m.client_msg_id) }, 'Retry')),
      );
    }
    li.append(bubble);

    const reactions = Object.entries(m.reactions || {}).filter(([, n]) => n > 0);
    if (reactions.length && !m.recalled) {
      li.append(
        h(
          'div',
          { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
          reactions.map(([emoji, n]) => {
            const mineR = (m.my_reactions || []).includes(emoji);
            return h(
              'button',
              {
                type: 'button',
                class: 'reaction' + (mineR ? ' mine' : ''),
                'aria-pressed': mineR ? 'true' : 'false',
                'aria-label': `${emoji} ${n}${mineR ? ', including you' : ''}`,
                dataset: { action: `r-${emoji}`, emoji },
                onclick: () => this.act(() => toggleReaction(this.id, m, emoji)),
              },
              `${emoji} ${n}`,
            );
          }),
        ),
      );
    }
    if (m.seq && !m.recalled) li.append(this.renderActions(m, mine, isGroup));
    return li;
  }

  renderContent(m, chat) {
    const c = m.content || {};
    switch (m.type) {
      case 'text':
      case 'markdown':
        return [h('p', { class: 'text' }, c.text || '')];
      case 'reply': {
        const orig = m.reply_to ? chat.byId.get(m.reply_to) : null;
        return [
          h('blockquote', { class: 'quote' }, orig ? `${orig.sender_id === app.me ? 'You' : displayName(orig.sender_id)}: ${preview(orig).slice(0, 80)}` : 'Reply'),
          h('p', { class: 'text' }, c.text || ''),
        ];
      }
      case 'image': {
        if (!isFilePath(c.url)) return [h('p', { class: 'text' }, '[image] ', c.url || '')];
        const img = h('img', { alt: 'Image', class: 'image', width: c.width || null, height: c.height || null, decoding: 'async' });
        const full = c.url.replace(/\?thumb=1$/, '');
        loadInto(img, `${full}?thumb=1`);
        img.addEventListener('error', () => loadInto(img, full), { once: true });
        const open = h('a', { href: '#', class: 'image-link', 'aria-label': 'Open the image at full size' }, img);
        open.addEventListener('click', async (e) => {
          e.preventDefault();
          const u = await blobUrl(full);
          if (u) window.open(u, '_blank', 'noopener');
        });
        return [open];
      }
      case 'file':
        return [
          h(
            'button',
            { type: 'button', class: 'file', dataset: { action: 'download' }, onclick: () => isFilePath(c.url) && download(c.url, c.name) },
            h('span', { 'aria-hidden': 'true' }, '📄 '),
            c.name || 'file',
            h('span', { class: 'size' }, ` (${formatBytes(c.size)})`),
          ),
        ];
      case 'voice':
        return [h('p', { class: 'text' }, `[voice message, ${Math.round((c.duration_ms || 0) / 1000)} s]`)];
      case 'video':
        return [h('p', { class: 'text' }, `[video, ${Math.round((c.duration_ms || 0) / 1000)} s]`)];
      case 'emoji':
        return [h('p', { class: 'text big' }, c.code || '')];
      case 'location':
        return [h('p', { class: 'text' }, `📍 ${c.name || ''} (${c.latitude}, ${c.longitude})`)];
      case 'card':
        return [h('p', { class: 'text' }, `Contact: ${displayName(c.user_id)}`)];
      case 'link':
        return /^https?:\/\//.test(c.url || '')
          ? [h('a', { href: c.url, rel: 'noopener noreferrer nofollow', target: '_blank' }, c.title || c.url)]
          : [h('p', { class: 'text' }, c.title || c.url || '')];
      case 'forward':
        return [h('p', { class: 'text' }, `Forwarded: ${c.title || `${(c.messages || []).length} messages`}`)];
      default:
        return [h('p', { class: 'text' }, `[${m.type}]`)];
    }
  }

  renderActions(m, mine, isGroup) {
    const wrap = h('div', { class: 'msg-actions' });
    const menuId = `actions-${m.seq}`;
    const key = `s:${m.seq}`;
    const btn = h(
      'button',
      { type: 'button', class: 'more', 'aria-expanded': 'false', 'aria-controls': menuId, 'aria-label': 'Message actions', title: 'Message actions', dataset: { action: 'more' } },
      h('span', { 'aria-hidden': 'true' }, '⋯'),
    );
    const menu = h('div', { class: 'menu', id: menuId, hidden: true, role: 'group', 'aria-label': 'Message actions' });
    const age = Date.now() - new Date(m.sent_at).getTime();
    const g = isGroup ? app.groups.get(parseConv(this.id).groupId) : null;
    const admin = g && (g.role === 'owner' || g.role === 'admin' || g.my_role === 'owner' || g.my_role === 'admin');
    menu.append(
      h(
        'div',
        { class: 'react-row', role: 'group', 'aria-label': 'React' },
        REACTIONS.map((e) =>
          h('button', { type: 'button', class: 'react', 'aria-label': `React ${e}`, title: `React ${e}`, dataset: { action: `react-${e}` }, onclick: () => this.act(() => toggleReaction(this.id, m, e)) }, e),
        ),
      ),
    );
    if ((m.type === 'text' || m.type === 'markdown' || m.type === 'reply') && !m.recalled) {
      menu.append(h('button', { type: 'button', dataset: { action: 'copy' }, onclick: () => this.copy(m) }, 'Copy text'));
    }
    if (mine && ['text', 'markdown', 'reply'].includes(m.type) && age < EDIT_WINDOW_MS) {
      menu.append(h('button', { type: 'button', dataset: { action: 'edit' }, onclick: () => this.startEdit(m) }, 'Edit'));
    }
    if ((mine && age < RECALL_WINDOW_MS) || admin) {
      menu.append(h('button', { type: 'button', dataset: { action: 'recall' }, onclick: () => this.act(() => recall(this.id, m), 'Message recalled') }, 'Recall'));
    }
    menu.append(h('button', { type: 'button', dataset: { action: 'delete' }, onclick: () => this.act(() => deleteForMe(this.id, m), 'Message deleted for you') }, 'Delete for me'));
    btn.addEventListener('click', (e) => {
      e.stopPropagation();
      if (this.openMenu && this.openMenu.menu === menu) this.closeMenu();
      else {
        this.closeMenu();
        menu.hidden = false;
        btn.setAttribute('aria-expanded', 'true');
        this.openMenu = { menu, btn, wrap, key };
        const first = menu.querySelector('button');
        if (first) first.focus();
      }
    });
    wrap.append(btn, menu);
    // re-rendered (a receipt, a reaction) while its menu was open: keep it open
    if (this.openMenu && this.openMenu.key === key) {
      menu.hidden = false;
      btn.setAttribute('aria-expanded', 'true');
      this.openMenu = { menu, btn, wrap, key };
    }
    return wrap;
  }

  closeMenu() {
    if (!this.openMenu) return;
    if (this.openMenu.menu.isConnected) {
      this.openMenu.menu.hidden = true;
      this.openMenu.btn.setAttribute('aria-expanded', 'false');
    }
    this.openMenu = null;
  }

  async act(fn, done) {
    this.closeMenu();
    try {
      await fn();
      if (done) announce(done);
    } catch (e) {
      this.composerStatus.show(e.kind === 'window_expired' ? 'Too late for that.' : e.message, true);
      setTimeout(() => this.composerStatus.show(''), 5000);
    }
  }

  async copy(m) {
    this.closeMenu();
    try {
      await navigator.clipboard.writeText((m.content && m.content.text) || '');
      announce('Copied');
    } catch {
      // clipboard refused
    }
  }

  startEdit(m) {
    this.closeMenu();
    this.editing = m;
    clear(this.editBar);
    this.editBar.append(
      h('span', {}, 'Editing message'),
      ' ',
      h('button', { type: 'button', class: 'link', onclick: () => this.cancelEdit() }, 'Cancel'),
    );
    this.editBar.hidden = false;
    this.input.value = (m.content && m.content.text) || '';
    this.form.querySelector('.send').textContent = 'Save';
    this.autosize();
    this.input.focus();
  }

  cancelEdit() {
    this.editing = null;
    this.editBar.hidden = true;
    this.input.value = '';
    this.form.querySelector('.send').textContent = 'Send';
    this.autosize();
    this.input.focus();
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim()) return;
    if (new TextEncoder().encode(text).length > 8192) {
      this.composerStatus.show('A message is at most 8192 bytes.', true);
      return;
    }
    this.composerStatus.show('');
    if (this.editing) {
      const m = this.editing;
      try {
        await edit(this.id, m, text);
        this.cancelEdit();
        announce('Message edited');
      } catch (e) {
        this.composerStatus.show(e.kind === 'window_expired' ? 'This message can no longer be edited.' : e.message, true);
      }
      return;
    }
    this.input.value = '';
    this.autosize();
    sendMessage(this.id, 'text', { text });
  }

  async sendFile(file) {
    const id = this.id;
    this.composerStatus.show(`Uploading ${file.name}…`);
    try {
      const f = await upload(file, 'chat', (p) => this.composerStatus.show(`Uploading ${file.name}… ${Math.round(p * 100)}%`));
      if (f.kind === 'image') {
        const content = { url: f.url, size: f.size };
        if (f.width) content.width = f.width;
        if (f.height) content.height = f.height;
        sendMessage(id, 'image', content);
      } else {
        sendMessage(id, 'file', { url: f.url, name: f.name, size: f.size });
      }
      this.composerStatus.show('');
    } catch (e) {
      this.composerStatus.show(`Could not upload ${file.name}: ${e.message}`, true);
    }
  }

  loadOlder() {
    const chat = getChat(this.id);
    if (!chat.loaded || !chat.hasMoreOlder || chat.loading) return;
    loadOlder(this.id);
    this.renderMessages();
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 200)}px`;
  }
}

function groupedWith(prev, m) {
  if (!prev || prev.type === 'system' || m.type === 'system') return false;
  if (prev.sender_id !== m.sender_id) return false;
  return new Date(m.sent_at) - new Date(prev.sent_at) < 5 * 60 * 1000;
}

// re-read receipts and the cursor when the window comes back
document.addEventListener('visibilitychange', () => {
  if (view && view.id && document.visibilityState === 'visible') {
    markRead(view.id);
    loadReceipts(view.id);
  }
});
