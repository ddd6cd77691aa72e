// The keyboard: one tab stop per note; arrows move between notes (up/down)
// and sections (left/right); inside a note's actions, arrows move between
// them. Tabs follow the ARIA tabs pattern (arrows, Home, End).
import { $, $$ } from './dom.js';
import { app, hooks } from './state.js';
import { act } from './socket.js';
import { visibleSections, update } from './views.js';
import { startEdit, startAdd } from './editor.js';
import { openMove } from './move.js';
import { closeThread } from './thread.js';
import { closeEvidence } from './evidence.js';

function focusNote(el) {
  if (!el) return;
  el.focus();
  app.focusId = el.dataset.noteId || null;
}

const actionsOf = (noteEl) => $$('.note-actions [data-action], .note-foot [data-action]:not([hidden])', noteEl);

function onTabs(e) {
  const tabs = $$('[role=tab]');
  const i = tabs.indexOf(e.target);
  let j = null;
  if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
  else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = tabs.length - 1;
  if (j === null) return;
  e.preventDefault();
  tabs[j].focus();
  hooks.view(tabs[j].dataset.view);
}

/** Arrows inside a note's actions; Escape back to the note. */
function onActions(e, noteEl) {
  const all = actionsOf(noteEl);
  const i = all.indexOf(e.target);
  if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
    e.preventDefault();
    all[(i + (e.key === 'ArrowRight' ? 1 : -1) + all.length) % all.length].focus();
  } else if (e.key === 'Escape') {
    e.preventDefault();
    noteEl.focus();
  }
}

export function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey) return;
  const target = e.target;
  if (target.getAttribute && target.getAttribute('role') === 'tab') { onTabs(e); return; }
  const noteEl = target.closest && target.closest('#board .note[data-note-id]');
  if (noteEl && target !== noteEl && target.closest('.note-actions, .note-foot')) { onActions(e, noteEl); return; }
  if (target.closest && target.closest('input, textarea, select, [contenteditable="plaintext-only"], [contenteditable="true"], .move-menu')) return;
  const section = target.closest && target.closest('#board [data-section]');
  if (e.key === 'n' && !e.altKey) {
    const id = section ? section.dataset.section : (visibleSections()[0] || {}).dataset?.section;
    if (id) { e.preventDefault(); startAdd(id); }
    return;
  }
  if (e.key === 'Escape') {
    closeThread();
    closeEvidence();
    if (app.highlight) { app.highlight = null; update(); }
    return;
  }
  if (!noteEl || target !== noteEl) {
    if (e.key.startsWith('Arrow') && !target.closest('button, a, [role=tab]')) {
      const first = $('#board .note[data-note-id]:not(.filtered-out)');
      if (first) { e.preventDefault(); focusNote(first); }
    }
    return;
  }
  const id = noteEl.dataset.noteId;
  if (e.key === 'Enter') { e.preventDefault(); startEdit(id); return; }
  if (e.key === 'Delete') { e.preventDefault(); act('trash', { note: id }); return; }
  if (e.key === 'm') { e.preventDefault(); openMove(noteEl, $('.move-btn', noteEl)); return; }
  if (e.key === 'a') { e.preventDefault(); const first = actionsOf(noteEl)[0]; if (first) first.focus(); return; }
  const siblings = $$(':scope > .note[data-note-id]:not(.filtered-out)', noteEl.parentElement);
  const i = siblings.indexOf(noteEl);
  if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
    e.preventDefault();
    const other = siblings[e.key === 'ArrowUp' ? i - 1 : i + 1];
    if (!other) return;
    const fields = { note: id, section: section.dataset.section };
    fields[e.key === 'ArrowUp' ? 'before' : 'after'] = other.dataset.noteId;
    act('move', fields);
    return;
  }
  if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
    e.preventDefault();
    focusNote(siblings[e.key === 'ArrowUp' ? i - 1 : i + 1]);
  } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    e.preventDefault();
    const all = visibleSections();
    let j = all.indexOf(section);
    for (;;) {
      j += e.key === 'ArrowLeft' ? -1 : 1;
      if (j < 0 || j >= all.length) return;
      const notes = $$('.note[data-note-id]:not(.filtered-out)', all[j]);
      if (notes.length) { focusNote(notes[Math.min(i, notes.length - 1)]); return; }
    }
  }
}
