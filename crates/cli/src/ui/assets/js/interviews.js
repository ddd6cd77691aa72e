// The Interviews view: the list (interviewee, customer type, date, findings),
// a form for a new interview, and the open interview: its transcript, a
// field that appends a timestamped line on Enter, and findings made from a
// line as evidence for or against a note. Changes go to the server as
// `interview-new`, `interview-note` and `finding-add` (crates/cli/src/ui/research.rs),
// the same canvas calls as the CLI's `interview` and `finding` commands.
//
// The view is laid out once and then updated in place, so a board update
// (a line from another note-taker) never takes the field someone types in.
import { h, $ } from './dom.js';
import { app, sectionInfo } from './state.js';
import { send } from './socket.js';

/** The laid-out view, or null: { root, list, form, detail, open } */
let laid = null;

const interviews = () => (app.board && app.board.interviews) || [];
const byId = (id) => interviews().find((i) => i.id === id);
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** A transcript's lines, each with the quote it gives (the line without its `[HH:MM who]` stamp). */
export function lines(transcript) {
  return transcript.split('\n').filter((l) => l.trim()).map((text) => ({ text, quote: text.replace(/^\[[^\]]*\]\s*/, '') }));
}

let fields = 0;

/** A labelled field; the label is not around the control, so the control's own text stays out of its name. */
function field(label, input) {
  fields += 1;
  input.id = `iv-field-${fields}`;
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

function newInterviewForm() {
  const who = h('input', { name: 'interviewee', maxlength: '200', autocomplete: 'off' });
  const kind = h('input', { name: 'customer_type', maxlength: '200', placeholder: app.board.customer.type || 'user, buyer, support…' });
  const date = h('input', { name: 'date', type: 'date' });
  const form = h('form', { class: 'new-interview', hidden: true, 'aria-label': 'New interview' },
    field('Interviewee', who), field('Customer type', kind), field('Date', date),
    h('div', { class: 'form-buttons' },
      h('button', { type: 'submit' }, 'Create interview'),
      h('button', { type: 'button', onclick: () => toggleForm(false) }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const fields = { interviewee: who.value };
    if (kind.value.trim()) fields.customer_type = kind.value.trim();
    if (date.value) fields.date = date.value;
    send('interview-new', fields).then((r) => {
      form.reset();
      toggleForm(false);
      open(r.result.interview, true);
    }).catch(() => {});
  });
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') toggleForm(false); });
  return form;
}

function toggleForm(show) {
  if (!laid) return;
  laid.form.hidden = !show;
  laid.newButton.setAttribute('aria-expanded', String(show));
  if (show) $('input', laid.form).focus();
  else laid.newButton.focus();
}

function open(id, focusLine) {
  app.interview = id;
  laid.wantFocus = focusLine;
  updateInterviews();
}

/** Lays the view out anew. */
export function interviewsView() {
  const list = h('ul', { class: 'interview-list', 'aria-label': 'Interviews' });
  const newButton = h('button', { type: 'button', class: 'new-interview-btn', 'aria-expanded': 'false', onclick: () => toggleForm(laid.form.hidden) }, 'New interview');
  const form = newInterviewForm();
  const detail = h('section', { class: 'interview-detail', 'aria-label': 'Open interview' });
  const root = h('div', { class: 'interviews-view' },
    h('div', { class: 'interviews-side' }, h('h2', {}, 'Interviews'), newButton, form, list),
    detail);
  laid = { root, list, form, newButton, detail, open: null, wantFocus: false };
  return root;
}

/** Brings the laid-out view up to date with the board. */
export function updateInterviews() {
  if (!laid || !laid.root.isConnected) return;
  const all = interviews();
  const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.interviewId : null;
  laid.list.replaceChildren(...(all.length ? all.map((i) => h('li', {},
    h('button', {
      type: 'button', class: 'interview', 'data-interview-id': i.id, 'aria-current': i.id === app.interview ? 'true' : false,
      onclick: () => open(i.id, false),
    }, h('strong', { class: 'interviewee' }, i.interviewee || '(erased)'),
    h('span', { class: 'interview-meta' }, [i.customer_type, i.date, plural(i.findings.length, 'finding', 'findings')].filter(Boolean).join(' · ')))))
    : [h('li', { class: 'empty' }, 'No interviews yet: start one with New interview.')]));
  if (focusedId) { const b = laid.list.querySelector(`[data-interview-id="${CSS.escape(focusedId)}"]`); if (b) b.focus(); }
  const current = byId(app.interview);
  if (!current) {
    laid.open = null;
    laid.detail.replaceChildren(h('p', { class: 'hint' }, app.interview ? 'Opening the interview…' : 'Open an interview to take notes, or start a new one.'));
    return;
  }
  if (!laid.open || laid.open.id !== current.id) laid.open = layDetail(current);
  fillDetail(laid.open, current);
  if (laid.wantFocus) { laid.wantFocus = false; laid.open.line.focus(); }
}

function layDetail(i) {
  const line = h('input', { class: 'transcript-input', maxlength: String(app.limits ? app.limits.text : 4000), autocomplete: 'off' });
  const box = { id: i.id, line };
  line.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.isComposing) return;
    e.preventDefault();
    const text = line.value.trim();
    if (!text) return;
    send('interview-note', { interview: i.id, text }).then(() => { if (line.value.trim() === text) line.value = ''; }).catch(() => {});
  });
  box.title = h('h2', { id: 'interview-h' });
  box.meta = h('p', { class: 'interview-meta' });
  box.transcript = h('ol', { class: 'transcript', 'aria-label': 'Transcript' });
  box.findings = h('ul', { class: 'findings', 'aria-label': 'Findings' });
  box.finding = findingForm(box);
  laid.detail.replaceChildren(box.title, box.meta,
    h('h3', {}, 'Transcript'), box.transcript,
    field('Transcript line', line),
    h('p', { class: 'hint' }, 'Enter adds the line with the time and your name. “Make a finding” turns a line into evidence for or against a note.'),
    box.finding.form,
    h('h3', {}, 'Findings'), box.findings);
  return box;
}

function fillDetail(box, i) {
  box.title.textContent = i.interviewee || '(erased interviewee)';
  box.meta.textContent = [i.customer_type, i.date, `by ${i.author}`].filter(Boolean).join(' · ');
  const ls = lines(i.transcript);
  box.transcript.replaceChildren(...(ls.length ? ls.map((l, n) => h('li', { 'data-line': String(n) },
    h('span', { class: 'line-text' }, l.text),
    h('button', { type: 'button', class: 'make-finding', 'aria-label': `Make a finding from: ${l.quote.slice(0, 60)}`, onclick: () => startFinding(box, l.quote) }, 'Make a finding')))
    : [h('li', { class: 'empty' }, 'No lines yet.')]));
  box.findings.replaceChildren(...(i.findings.length ? i.findings.map((f) => h('li', { class: 'finding', 'data-finding-id': f.id },
    h('q', { class: 'quote' }, f.text),
    f.interpretation ? h('span', { class: 'interpretation' }, ` — ${f.interpretation}`) : null,
    h('span', { class: 'links' }, f.links.map((l) => {
      const n = app.byId.get(l.note);
      return h('span', { class: `link effect-${l.effect}` }, ` ${l.effect} “${n ? n.text.slice(0, 60) : l.note}”`);
    }))))
    : [h('li', { class: 'empty' }, 'No findings yet.')]));
  fillPicker(box.finding.picker);
}

/** The notes to link a finding to, by section and text. */
function fillPicker(select) {
  const live = app.board.notes.filter((n) => !n.trashed);
  const sig = JSON.stringify(live.map((n) => [n.id, n.section, n.text]));
  if (select.dataset.sig === sig) return;
  const value = select.value;
  const groups = new Map();
  for (const n of live) {
    if (!groups.has(n.section)) groups.set(n.section, []);
    groups.get(n.section).push(n);
  }
  select.replaceChildren(h('option', { value: '' }, 'Choose a note…'),
    ...Array.from(groups, ([section, notes]) => h('optgroup', { label: sectionInfo(section).title },
      notes.map((n) => h('option', { value: n.id }, n.text.length > 80 ? `${n.text.slice(0, 79)}…` : n.text)))));
  select.value = value;
  select.dataset.sig = sig;
}

function findingForm(box) {
  const quote = h('textarea', { rows: '2', class: 'finding-quote' });
  const meaning = h('input', { class: 'finding-interpretation', autocomplete: 'off' });
  const effect = h('select', { class: 'finding-effect' },
    h('option', { value: 'supports' }, 'supports'), h('option', { value: 'contradicts' }, 'contradicts'));
  const picker = h('select', { class: 'finding-note' });
  const form = h('form', { class: 'finding-form', hidden: true, 'aria-label': 'New finding' },
    field('Quote', quote), field('Interpretation (optional)', meaning),
    h('div', { class: 'finding-link' }, field('Effect', effect), field('Note', picker)),
    h('div', { class: 'form-buttons' },
      h('button', { type: 'submit' }, 'Add finding'),
      h('button', { type: 'button', onclick: () => { form.hidden = true; box.line.focus(); } }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const fields = { interview: box.id, quote: quote.value, interpretation: meaning.value };
    if (picker.value) fields[effect.value] = [picker.value];
    send('finding-add', fields).then(() => { form.reset(); form.hidden = true; box.line.focus(); }).catch(() => {});
  });
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { form.hidden = true; box.line.focus(); } });
  return { form, quote, picker };
}

function startFinding(box, text) {
  box.finding.form.hidden = false;
  box.finding.quote.value = text;
  box.finding.picker.focus();
}
