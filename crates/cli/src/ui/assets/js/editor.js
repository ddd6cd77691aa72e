// Typing: a note's text (edit in place), a new note, the title, your name,
// and tags. Only the note's own text element becomes editable; updates from
// elsewhere leave it alone (notes.js), so nothing here restores carets.
import { h, $, placeCaretAtEnd } from './dom.js';
import { app, hooks, note } from './state.js';
import { send, act } from './socket.js';
import { noteElement, sectionList, invalidate, update } from './views.js';

const setEditing = (id) => act('presence', { editing: id });

export function startEdit(noteId) {
  if (app.view === 'history') return;
  if (app.editor) finishEdit(true);
  const el = noteElement(noteId);
  const n = note(noteId);
  if (!el || !n) return;
  const text = $('.note-text', el);
  el.draggable = false;
  el.classList.add('editing');
  app.editor = { kind: 'edit', note: noteId, base: n.text, el };
  text.contentEditable = 'plaintext-only';
  text.setAttribute('role', 'textbox');
  text.setAttribute('aria-multiline', 'true');
  text.setAttribute('aria-label', 'Note text');
  bind(text);
  text.focus();
  placeCaretAtEnd(text);
  setEditing(noteId);
}

export function startAdd(section) {
  if (app.view === 'history' || app.view === 'trash' || app.view === 'job') return;
  const list = sectionList(section);
  if (!list) return;
  if (app.editor) finishEdit(true);
  const text = h('div', { class: 'note-text', role: 'textbox', 'aria-label': 'New note', 'data-placeholder': 'New note… (Enter to add, Esc to cancel)' });
  const el = h('article', { class: 'note draft editing', 'data-draft': section }, text);
  app.editor = { kind: 'add', section, base: '', el };
  list.append(el);
  text.contentEditable = 'plaintext-only';
  bind(text);
  text.focus();
}

function bind(text) {
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); finishEdit(true); }
    else if (e.key === 'Escape') { e.preventDefault(); finishEdit(false); }
    e.stopPropagation();
  });
  text.addEventListener('blur', () => {
    // A note moving under the editor refocuses it at once; only a real blur saves.
    setTimeout(() => {
      if (app.editor && app.editor.el.contains(text) && document.activeElement !== text) finishEdit(true);
    }, 0);
  });
}

/** Closes the editor: the note shows the document's text again, the focus goes back to it. */
function close(ed) {
  app.editor = null;
  if (ed.kind === 'add') {
    ed.el.remove();
    return;
  }
  const text = $('.note-text', ed.el);
  text.contentEditable = 'false';
  text.removeAttribute('contenteditable');
  for (const a of ['role', 'aria-multiline', 'aria-label']) text.removeAttribute(a);
  ed.el.draggable = true;
  ed.el.classList.remove('editing');
  invalidate(ed.note);
  setEditing(null);
}

export async function finishEdit(save) {
  const ed = app.editor;
  if (!ed || ed.finishing || ed.kind === 'title') return;
  const text = $('.note-text', ed.el);
  const value = text.innerText.replace(/\n+$/, '');
  const hadFocus = document.activeElement === text;
  if (!save) {
    close(ed);
    update();
    if (ed.kind === 'edit' && hadFocus) ed.el.focus();
    return;
  }
  ed.finishing = true;
  try {
    if (ed.kind === 'edit') {
      if (value.trim() && value !== ed.base) await send('edit', { note: ed.note, text: value, base: ed.base });
      else if (!value.trim()) hooks.message('A note cannot be empty: move it to the trash instead.');
    } else if (ed.kind === 'add' && value.trim()) {
      const r = await send('add', { section: ed.section, text: value });
      app.focusId = r.result && r.result.note;
    }
    close(ed);
    update();
    const back = ed.kind === 'edit' ? ed.el : noteElement(app.focusId);
    if (hadFocus && back && back.isConnected) back.focus({ preventScroll: true });
  } catch {
    // Refused (too long, …): keep the editor open so nothing typed is lost.
    ed.finishing = false;
    if (ed.el.isConnected) text.focus();
  }
}

export function editTitle() {
  const t = $('#title');
  if (app.editor) finishEdit(true);
  const base = t.textContent;
  t.contentEditable = 'plaintext-only';
  t.setAttribute('role', 'textbox');
  t.setAttribute('aria-label', 'Canvas title');
  app.editor = { kind: 'title', el: t };
  t.focus();
  placeCaretAtEnd(t);
  const done = (save) => {
    t.contentEditable = 'false';
    t.removeAttribute('role');
    t.removeAttribute('aria-label');
    t.removeEventListener('keydown', key);
    app.editor = null;
    const value = t.textContent.trim();
    if (save && value && value !== base) send('title', { title: value }).catch(() => { t.textContent = base; });
    else t.textContent = base;
  };
  const key = (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') { e.preventDefault(); done(true); }
    if (e.key === 'Escape') { e.preventDefault(); done(false); }
  };
  t.addEventListener('keydown', key);
  t.addEventListener('blur', () => { if (app.editor && app.editor.kind === 'title') done(true); }, { once: true });
}

export function editName() {
  const b = $('#me');
  const input = h('input', { class: 'name-input', maxlength: '64', 'aria-label': 'Your name' });
  input.value = app.me.name;
  b.replaceWith(input);
  input.focus();
  input.select();
  const done = (save) => {
    if (!input.isConnected) return;
    input.replaceWith(b);
    b.focus();
    const name = input.value.trim();
    if (save && name && name !== app.me.name) {
      send('hello', { name }).then((r) => {
        app.me = r.result;
        localStorage.setItem('gapmap-name', app.me.name);
        hooks.me();
        update();
      }).catch(() => {});
    }
  };
  input.addEventListener('keydown', (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') done(true);
    if (e.key === 'Escape') done(false);
  });
  input.addEventListener('blur', () => done(true));
}

export function editTags(el, n) {
  const old = $('.tag-input', el);
  if (old) { old.focus(); return; }
  const input = h('input', { class: 'tag-input', placeholder: 'tag  -tag   (Enter)', 'aria-label': 'Tags to add or remove' });
  const done = (save) => {
    const words = input.value.split(/\s+/).filter(Boolean);
    input.remove();
    app.tagEditor = null;
    if (save || document.activeElement === document.body) el.focus({ preventScroll: true });
    if (!save || !words.length) return;
    const add = words.filter((w) => !w.startsWith('-')).map((w) => w.replace(/^[+#]/, ''));
    const remove = words.filter((w) => w.startsWith('-')).map((w) => w.slice(1));
    act('tag', { note: n.id, add, remove });
  };
  input.addEventListener('keydown', (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') { e.preventDefault(); done(true); }
    if (e.key === 'Escape') done(false);
  });
  input.addEventListener('blur', () => {
    setTimeout(() => { if (input.isConnected && document.activeElement !== input) done(false); }, 0);
  });
  app.tagEditor = { note: n.id, input };
  $('.note-foot', el).after(input);
  input.focus();
}
