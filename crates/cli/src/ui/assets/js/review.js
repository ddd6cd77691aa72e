// The Review view: what the evidence suggests for each hypothesis (the rule
// and the wording are the CLI's `gapmap review`, computed by the server),
// the findings behind each suggestion, and one action to apply it — the
// person decides; nothing is marked until they press it.
import { h, $ } from './dom.js';
import { app, sectionInfo } from './state.js';
import { act } from './socket.js';

const WORDS = {
  validate: 'Validate', invalidate: 'Invalidate', reconsider: 'Reconsider', mixed: 'Mixed evidence', thin: 'Thin evidence', 'no-evidence': 'No evidence',
};

export function reviewView() {
  if (!app.review) return h('div', { class: 'review-view' }, h('h2', {}, 'Review'), h('p', { class: 'loading' }, 'Weighing the evidence…'));
  const rows = app.review;
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.apply : null;
  const view = h('div', { class: 'review-view' },
    h('h2', {}, 'Review'),
    h('p', { class: 'hint' }, 'What the interviews say about each hypothesis (2 distinct interviewees decide, as gapmap review). You decide: apply a suggestion, or ask more in the next round.'),
    rows.length ? h('ul', { class: 'review-list' }, rows.map((r) => h('li', { class: `review-item suggest-${r.suggestion}`, 'data-review-note': r.id, 'data-suggestion': r.suggestion },
      h('p', { class: 'review-head' }, h('strong', { class: 'suggestion' }, WORDS[r.suggestion] || r.suggestion), ' ',
        h('span', { class: 'review-section' }, sectionInfo(r.section).title), ' · ', h('span', { class: 'review-status' }, r.status)),
      h('p', { class: 'review-text' }, r.text),
      h('p', { class: 'review-reason' }, r.reason),
      r.evidence.findings.length ? h('ul', { class: 'review-findings' }, r.evidence.findings.map((f) => h('li', { class: `effect-${f.effect}` },
        `${f.effect}: `, h('q', {}, f.quote || '(erased)'), ` — ${f.interviewee}`))) : null,
      r.apply ? h('button', {
        type: 'button', class: 'apply', 'data-apply': r.id, onclick: () => act('mark', { note: r.id, status: r.apply }),
      }, `Mark ${r.apply}`) : null)))
      : h('p', { class: 'empty' }, 'Nothing to review: every note’s mark agrees with its evidence.'));
  if (focused) setTimeout(() => { const b = $(`[data-apply="${CSS.escape(focused)}"]`); if (b) b.focus(); else $('#tab-review').focus(); }, 0);
  return view;
}
