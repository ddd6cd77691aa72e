// A note's evidence, opened from its badge: the findings for and against it,
// each with its quote and interviewee, in the side panel comments also use.
// The figures are the server's (Canvas::evidence_report, as `gapmap evidence`).
import { h, $, isoTime } from './dom.js';
import { app, note } from './state.js';
import { noteElement } from './views.js';

function close() {
  const back = noteElement(app.evidence);
  app.evidence = null;
  const aside = $('#evidence');
  aside.hidden = true;
  aside.replaceChildren();
  if (back) back.focus({ preventScroll: true });
}

export function openEvidence(noteId) {
  app.evidence = noteId;
  renderEvidence();
  const button = $('#evidence .close');
  if (button) button.focus();
}

export function closeEvidence() {
  if (app.evidence) close();
}

const EFFECT = { supports: 'Supports', contradicts: 'Contradicts', new: 'Observed (made from it)' };

export function renderEvidence() {
  const aside = $('#evidence');
  if (!app.evidence) return;
  const n = note(app.evidence);
  if (!n) { close(); return; }
  const ev = n.evidence;
  const people = ev.interviewees.length;
  aside.hidden = false;
  aside.dataset.noteId = n.id;
  const hadFocus = aside.contains(document.activeElement);
  aside.replaceChildren(
    h('header', {}, h('h2', { id: 'evidence-h' }, 'Evidence'),
      h('button', { type: 'button', class: 'close', 'aria-label': 'Close evidence', onclick: close }, '×')),
    h('blockquote', {}, n.text),
    h('p', { class: 'evidence-sum' }, `${ev.supports} supporting, ${ev.contradicts} contradicting · ${people} ${people === 1 ? 'interviewee' : 'interviewees'}`),
    ev.findings.length
      ? h('ol', { class: 'finding-list' }, ev.findings.map((f) => h('li', { class: `finding effect-${f.effect}`, 'data-finding-id': f.finding },
        h('span', { class: 'effect' }, EFFECT[f.effect] || f.effect),
        h('q', { class: 'quote' }, f.quote || '(erased)'),
        f.interpretation ? h('p', { class: 'interpretation' }, f.interpretation) : null,
        h('p', { class: 'who' }, h('span', { class: 'interviewee' }, f.interviewee), f.customer_type ? ` (${f.customer_type})` : '', f.at ? ` · ${isoTime(f.at)}` : ''))))
      : h('p', { class: 'hint' }, 'No finding is about this note yet: untested.'));
  if (hadFocus) { const b = $('.close', aside); if (b) b.focus(); }
}
