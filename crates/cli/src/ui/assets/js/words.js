// The words of the board: section hints and empty states, in the words of
// the method (the Customer Progress Canvas, the forces of progress, the job
// map, jobs-pains-gains), and how each validation status is marked.

/** Which sections each view lays out; the progress canvas has its own layout. */
export const VIEWS = {
  canvas: ['now', 'constraint', 'catalyst', 'to-be', 'design'],
  forces: [['push', 'pull'], ['anxiety', 'inertia']],
  jobmap: [['define', 'locate', 'prepare', 'confirm'], ['execute', 'monitor', 'modify', 'conclude']],
  outcomes: [['goal', 'hazard', 'problem']],
  jpg: [['job', 'pain', 'gain']],
};

/** Views that show sections of notes (the others are forms or lists). */
export const NOTE_VIEWS = new Set(Object.keys(VIEWS));

export const HINTS = {
  now: 'The current, observable state of your customer',
  'to-be': 'The more desired state they want to reach',
  constraint: 'What stops them moving forward',
  catalyst: 'What would make their progress smooth',
  design: 'What can fill the gap better than anything else',
  push: 'Struggles of the current situation',
  pull: 'The attraction of the new solution',
  anxiety: 'Fears about the new solution',
  inertia: 'Habits that hold them back',
  define: 'Determine goals and plan resources',
  locate: 'Gather the items and information needed',
  prepare: 'Set up the environment',
  confirm: 'Verify everything is ready',
  execute: 'Carry out the job',
  monitor: 'Check that it goes well',
  modify: 'Make alterations along the way',
  conclude: 'Finish the job',
  goal: 'A desired outcome of the job',
  hazard: 'A risk the customer wants to avoid',
  problem: 'A problem the customer wants solved',
  job: 'What the customer is trying to get done',
  pain: 'What annoys them before, during or after the job',
  gain: 'The benefits they want to achieve',
};

/** What an empty section teaches: where to start and what to ask. */
export const EMPTY = {
  now: 'Start here: describe what the customer does today, as you could observe it. It is descriptive and relatively easy to figure out.',
  'to-be': 'Next: logically deduce the customer’s potential desire — the more desired state. Interviews give it shape.',
  constraint: 'Once you have the NOW and the TO BE: what is stopping customers from moving forward to their desired state?',
  catalyst: 'And what can make their progress smooth? Interview again to discover more.',
  design: 'Last: what can you design that fills the GAP by removing constraints and adding catalysts?',
  push: 'What struggles in their current situation push them to seek something better?',
  pull: 'What draws them to a new solution?',
  anxiety: 'What worries them about switching?',
  inertia: 'Which habits keep them where they are?',
};

export const STATUS = {
  hypothesis: { mark: '?', label: 'hypothesis' },
  validated: { mark: '✓', label: 'validated' },
  invalidated: { mark: '✕', label: 'invalidated' },
};
export const STATUSES = Object.keys(STATUS);
