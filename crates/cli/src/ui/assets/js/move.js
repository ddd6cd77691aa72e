// Moving notes: the "Move to…" menu (keyboard and touch) and drag and drop.
import { h, $, $$ } from './dom.js';
import { app, sectionInfo } from './state.js';
import { act } from './socket.js';
import { VIEWS } from './words.js';
import { noteElement } from './views.js';

let menu = null;

/** The sections a note can go to from the current view, by name. */
function targets(from) {
  const ids = (VIEWS[app.view] || VIEWS.canvas).flat();
  return ids.filter((id) => id !== from).map(sectionInfo);
}

export function closeMove(refocus) {
  if (!menu) return;
  const { el, back } = menu;
  menu = null;
  el.remove();
  if (refocus && back && back.isConnected) back.focus({ preventScroll: true });
}

/** Opens the menu for note element `noteEl` beside `button`. */
export function openMove(noteEl, button) {
  closeMove(false);
  const id = noteEl.dataset.noteId;
  const from = noteEl.closest('[data-section]').dataset.section;
  const items = targets(from).map((s) => h('button', {
    type: 'button', role: 'menuitem', tabindex: '-1', class: 'move-item', 'data-section-target': s.id,
    onclick: () => {
      closeMove(false);
      act('move', { note: id, section: s.id }).then(() => {
        const el = noteElement(id);
        if (el) { el.focus({ preventScroll: false }); app.focusId = id; }
      });
    },
  }, s.title));
  const el = h('div', { class: 'move-menu', role: 'menu', 'aria-label': 'Move to' }, items);
  document.body.append(el);
  const r = (button || noteEl).getBoundingClientRect();
  const top = Math.min(r.bottom + window.scrollY + 4, window.scrollY + window.innerHeight - el.offsetHeight - 8);
  el.style.top = `${Math.max(window.scrollY + 8, top)}px`;
  el.style.left = `${Math.max(8, Math.min(r.left + window.scrollX, window.scrollX + window.innerWidth - el.offsetWidth - 8))}px`;
  menu = { el, back: noteEl };
  if (button) button.setAttribute('aria-expanded', 'true');
  el.addEventListener('keydown', (e) => {
    const all = $$('[role=menuitem]', el);
    const i = all.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') { e.preventDefault(); all[(i + 1) % all.length].focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); all[(i - 1 + all.length) % all.length].focus(); }
    else if (e.key === 'Home') { e.preventDefault(); all[0].focus(); }
    else if (e.key === 'End') { e.preventDefault(); all[all.length - 1].focus(); }
    else if (e.key === 'Escape' || e.key === 'Tab') { e.preventDefault(); if (button) button.removeAttribute('aria-expanded'); closeMove(true); }
    e.stopPropagation();
  });
  el.addEventListener('focusout', (e) => {
    if (!el.contains(e.relatedTarget)) setTimeout(() => { if (menu && menu.el === el && !el.contains(document.activeElement)) closeMove(false); }, 0);
  });
  if (items[0]) items[0].focus();
}

/** Makes `list` (the notes of `section`) accept dropped notes, before the note under the pointer. */
export function dropTarget(list, section) {
  const marker = () => $('.drop-marker') || h('div', { class: 'drop-marker' });
  const anchor = (e) => $$(':scope > .note:not(.dragging):not(.draft)', list).find((n) => {
    const r = n.getBoundingClientRect();
    return e.clientY < r.top + r.height / 2;
  });
  list.addEventListener('dragover', (e) => {
    if (!e.dataTransfer.types.includes('text/x-gapmap-note')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    const before = anchor(e);
    const m = marker();
    if (before) before.before(m); else list.append(m);
  });
  list.addEventListener('dragleave', (e) => {
    if (!list.contains(e.relatedTarget)) $$('.drop-marker').forEach((m) => m.remove());
  });
  list.addEventListener('drop', (e) => {
    const id = e.dataTransfer.getData('text/x-gapmap-note');
    $$('.drop-marker').forEach((m) => m.remove());
    if (!id) return;
    e.preventDefault();
    const before = anchor(e);
    const fields = { note: id, section };
    if (before && before.dataset.noteId !== id) fields.before = before.dataset.noteId;
    act('move', fields);
  });
}
