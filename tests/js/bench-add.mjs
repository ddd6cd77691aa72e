// The JavaScript side of `gapmap-bench add`: what adding one note costs a
// user who built gapmap's canvas on the stack they might pick instead,
// automerge-repo 2.5 with its Node filesystem storage. One process does one
// load-change-save, exactly like one `gapmap add` does.
//
//   node bench-add.mjs setup DIR FILE   import an .automerge file into a fresh
//                                       repo storage at DIR, flush, print its URL
//   node bench-add.mjs add DIR URL      load URL from DIR, add a NOW note, flush,
//                                       exit; prints {"id", "phases"}
//   node bench-add.mjs noop             load the modules and exit (start-up cost)
//
// Every mode prints one JSON line whose "phases" are milliseconds since the
// process started (performance.now()): boot = when this script began to run,
// then imports, repo, find, change, flush as each step finished. The bench
// times the whole process from outside; the rest is process exit.
//
// The modules are imported dynamically so their load time is a phase of its
// own rather than hidden in boot.
import { readFileSync } from "node:fs"

const mark = () => Math.round(performance.now() * 1000) / 1000
const phases = { boot: mark() }

const { Repo, ImmutableString } = await import("@automerge/automerge-repo")
const { NodeFSStorageAdapter } = await import("@automerge/automerge-repo-storage-nodefs")
phases.imports = mark()

const [mode, dir, arg] = process.argv.slice(2)
const usage = "usage: node bench-add.mjs setup DIR FILE | add DIR URL | noop"

// gapmap note ids: 12 random characters of lowercase base32.
const noteId = () => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return Array.from(bytes, b => alphabet[b & 31]).join("")
}

// The repo's own background save (throttled, 100 ms after a change) is put
// off past the process's life: flush() does not wait for a background save
// already running, and exiting in the middle of one leaves a truncated chunk
// behind (Node writes files 512 KiB at a time). flush() is the one save.
// That also spares JS a second save, so it can only flatter JS.
const openRepo = () => {
  const repo = new Repo({
    storage: new NodeFSStorageAdapter(dir),
    network: [],
    saveDebounceRate: 600_000,
  })
  phases.repo = mark()
  return repo
}

switch (mode) {
  case "noop":
    break

  case "setup": {
    if (!dir || !arg) throw new Error(usage)
    const repo = openRepo()
    const handle = repo.import(readFileSync(arg))
    await handle.whenReady()
    phases.find = mark()
    await repo.flush()
    phases.flush = mark()
    console.log(JSON.stringify({ url: handle.url, phases }))
    break
  }

  case "add": {
    if (!dir || !arg) throw new Error(usage)
    const repo = openRepo()
    // automerge-repo 2.x: find resolves once the document is ready.
    const handle = await repo.find(arg)
    phases.find = mark()
    const id = noteId()
    const now = Date.now()
    handle.change(d => {
      // Append to the NOW section as gapmap does: rank after the last one.
      let last = ""
      for (const note of Object.values(d.notes)) {
        if (String(note.section) === "now" && String(note.rank) > last) last = String(note.rank)
      }
      d.notes[id] = {
        section: new ImmutableString("now"),
        text: "Owner re-types supplier invoices into a spreadsheet every Friday night",
        rank: new ImmutableString(`${last}V`),
        status: new ImmutableString("hypothesis"),
        tags: {},
        links: {},
        votes: {},
        comments: {},
        ratings: {},
        author: new ImmutableString("bench"),
        created_at: now,
        updated_at: now,
        trashed_at: null,
      }
    })
    phases.change = mark()
    await repo.flush()
    phases.flush = mark()
    console.log(JSON.stringify({ id, phases }))
    break
  }

  default:
    console.error(usage)
    process.exit(2)
}

if (mode === "noop") console.log(JSON.stringify({ phases }))
// Exit now, as a CLI would, rather than wait for the repo's timers.
process.exit(0)
