// A note's comments, in a side panel.
import { h, $, isoTime } from './dom.js';
import { app, note } from './state.js';
import { act, send } from './socket.js';
import { noteElement } from './views.js';

function close() {
  const back = noteElement(app.thread);
  app.thread = null;
  $('#thread').hidden = true;
  if (back) back.focus({ preventScroll: true });
}

export function openThread(noteId) {
  app.thread = noteId;
  renderThread();
  const box = $('#thread textarea');
  if (box) box.focus();
}

export function closeThread() {
  if (app.thread) close();
}

export function renderThread() {
  const aside = $('#thread');
  if (!app.thread) return;
  const n = note(app.thread);
  if (!n) { aside.hidden = true; app.thread = null; return; }
  const typed = $('textarea', aside);
  const draft = typed ? typed.value : '';
  const hadFocus = typed && document.activeElement === typed;
  aside.hidden = false;
  aside.dataset.noteId = n.id;
  const input = h('textarea', { rows: '3', placeholder: 'Add a comment', 'aria-label': 'New comment' });
  input.value = draft;
  const post = () => {
    const text = input.value.trim();
    if (!text) return;
    send('comment', { note: n.id, text }).then(() => { input.value = ''; }).catch(() => {});
  };
  input.addEventListener('keydown', (e) => {
    e.stopPropagation();
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); post(); }
    if (e.key === 'Escape') close();
  });
  aside.replaceChildren(
    h('header', {}, h('h2', { id: 'thread-h' }, 'Comments'), h('button', { type: 'button', class: 'close', 'aria-label': 'Close comments', onclick: close }, '×')),
    h('blockquote', {}, n.text),
    n.comments.length ? h('ol', { class: 'comment-list' }, n.comments.map((c) => h('li', { class: `comment${c.resolved ? ' resolved' : ''}`, 'data-comment-id': c.id },
      h('div', { class: 'comment-head' }, h('strong', {}, c.author || '?'), ' ', c.at ? h('time', {}, isoTime(c.at)) : ''),
      h('p', {}, c.text),
      h('button', {
        type: 'button', class: c.resolved ? 'reopen' : 'resolve',
        onclick: () => act('resolve', { note: n.id, comment: c.id, resolved: !c.resolved }),
      }, c.resolved ? 'Reopen' : 'Resolve')))) : h('p', { class: 'hint' }, 'No comments yet. Ask what evidence would change your mind.'),
    input,
    h('button', { type: 'button', class: 'post', onclick: post }, 'Comment'));
  if (hadFocus) input.focus();
}
