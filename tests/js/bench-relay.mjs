// The JavaScript load of `gapmap-bench relay --load js`: unmodified
// automerge-repo 2.5 clients — one `Repo` with one WebSocketClientAdapter and
// no storage per client, as a browser tab without storage — on the documents
// pattern of the Rust load generator (crates/bench/src/relay/swarm.rs): D
// documents × C clients, every client of a document in this process, so the
// process knows when an edit has reached all the document's other clients.
//
//   node bench-relay.mjs CONFIG
//
// CONFIG is one JSON object: {"url", "docs" (documents in this process),
// "first" (the global index of the first one), "total" (documents over every
// process), "clients" (per document), "writers" (clients of each document
// that write their marker while gathering), "tag" (for peer ids),
// "readyTimeoutMs"}.
//
// Gathering: client 0 of each document creates it with its marker `c0 = 0`,
// the others `find` it through the server (a fresh Repo and again when the
// server does not hold it yet), then each writer sets its marker `c<i> = 0`.
// Once every client has seen every writer's marker this prints
// {"ready": true, …} and reads commands from stdin, one JSON object a line;
// times are milliseconds since the Unix epoch (the bench's clock and
// performance.timeOrigin + performance.now() agree on one machine):
//
//   {"cmd": "closed", "from", "until"}   every client edits now, and again as soon
//                                        as its previous edit reached every other
//                                        client, until `until`
//   {"cmd": "rate", "first", "period", "from", "until"}
//                                        each document edits every `period` ms,
//                                        documents staggered evenly over one period
//                                        from `first`, clients taking turns
//   {"cmd": "hold"}                      no new edits
//   {"cmd": "stop"}                      prints {"stats": …} and exits
//
// An edit by client i is one `handle.change` setting `c<i>` to its next
// sequence number and `t<i>` to the moment it was made. Client j has seen it
// when its handle's "change" event shows `c<i>` at least that number; the
// latency is that moment minus the `t<i>` the document carries (an edit the
// server folded into a later one counts from its own moment). Edits made in
// [from, until) are measured; arrivals, and edits that reached everyone,
// count when they happen inside the window. On a fatal error it prints
// {"error": "…"} and exits 1.
import { createInterface } from "node:readline"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const config = JSON.parse(process.argv[2] ?? "null")
if (!config?.url) {
  console.error("usage: node bench-relay.mjs CONFIG_JSON (see the header of the file)")
  process.exit(2)
}
const { url, docs, first, total, clients, writers, tag, readyTimeoutMs } = config

const out = value => process.stdout.write(JSON.stringify(value) + "\n")
const now = () => performance.timeOrigin + performance.now()
const sleep = ms => new Promise(r => setTimeout(r, ms))
const fatal = message => {
  out({ error: String(message) })
  process.exit(1)
}
process.on("uncaughtException", e => fatal(e?.stack ?? e))
process.on("unhandledRejection", e => fatal(e?.stack ?? e))

// Documents gathering at once: bounds the sockets opening together, as the
// Rust generator's 64 dials at a time do.
const GATHER_CONCURRENCY = 16
const MAX_PROBLEMS = 5

const stats = {
  latencies_ms: [],
  edits_delivered: 0,
  deliveries: 0,
  edits_made: 0,
  lost: 0,
  // Sync messages the clients received inside the window, and the bytes of
  // the Automerge sync messages they carried.
  messages_received: 0,
  bytes_received: 0,
  problems: [],
  problem_count: 0,
  // Finds the server answered "unavailable" while client 0's document was
  // still on its way to it: retried, not a problem.
  find_retries: 0,
}
const problem = text => {
  stats.problem_count += 1
  if (stats.problems.length < MAX_PROBLEMS) stats.problems.push(text)
}

let control = { cmd: "hold" }
let connections = 0
let stopping = false

// One Repo, connected: the server has answered its join.
async function client(name) {
  const repo = new Repo({ network: [new WebSocketClientAdapter(url)], peerId: name })
  if (repo.peers.length === 0) {
    await new Promise(resolve => repo.networkSubsystem.once("peer", resolve))
  }
  connections += 1
  repo.networkSubsystem.on("message", message => {
    const at = now()
    if (message.data && control.from !== undefined && at >= control.from && at < control.until) {
      stats.messages_received += 1
      stats.bytes_received += message.data.byteLength
    }
  })
  repo.networkSubsystem.on("peer-disconnected", () => {
    if (!stopping) problem(`${name}: disconnected`)
  })
  return repo
}

// A second client of `docUrl`; a fresh Repo each time the server does not
// hold the document yet (a Repo remembers "unavailable").
async function joiner(name, docUrl) {
  for (let attempt = 0; ; attempt++) {
    const repo = await client(`${name}-${attempt}`)
    try {
      return await repo.find(docUrl)
    } catch (e) {
      if (!/unavailable/i.test(String(e))) throw e
      stats.find_retries += 1
      connections -= 1
      repo.shutdown()
      await sleep(50 + 50 * attempt)
    }
  }
}

// The clients of one document.
class DocSim {
  constructor(index, handles) {
    this.index = index
    this.handles = handles
    const n = handles.length
    this.seq = new Array(n).fill(0)
    // seen[c][j]: the highest sequence number of j that c's copy holds.
    this.seen = Array.from({ length: n }, () => new Array(n).fill(-1))
    // Per author, its edits not yet seen by every other client, oldest first.
    this.pending = Array.from({ length: n }, () => [])
    this.ready = false
    this.timer = undefined
    this.turn = index
    handles.forEach((h, c) => {
      h.on("change", ({ doc }) => this.observe(c, now(), doc))
      this.observe(c, now(), h.doc())
    })
  }

  edit(c) {
    const made = now()
    const measured = control.from !== undefined && made >= control.from && made < control.until
    const seq = ++this.seq[c]
    this.handles[c].change(d => {
      d[`c${c}`] = seq
      d[`t${c}`] = made
    })
    if (measured) stats.edits_made += 1
    this.pending[c].push({ seq, made, measured, waiting: this.handles.length - 1 })
  }

  observe(c, at, doc) {
    const inWindow = control.from !== undefined && at >= control.from && at < control.until
    const completed = []
    for (let j = 0; j < this.handles.length; j++) {
      if (j === c) continue
      const value = doc[`c${j}`]
      const before = this.seen[c][j]
      if (typeof value !== "number" || value <= before) continue
      this.seen[c][j] = value
      const carried = doc[`t${j}`]
      for (const p of this.pending[j]) {
        if (p.seq <= before || p.seq > value) continue
        p.waiting -= 1
        if (p.measured) {
          const made = p.seq === value && typeof carried === "number" ? carried : p.made
          stats.latencies_ms.push(Math.round((at - made) * 1000) / 1000)
        }
        if (inWindow) stats.deliveries += 1
        if (p.waiting === 0) {
          if (inWindow) stats.edits_delivered += 1
          completed.push([j, p.seq])
        }
      }
      const queue = this.pending[j]
      let done = 0
      while (done < queue.length && queue[done].waiting === 0) done++
      if (done > 0) queue.splice(0, done)
    }
    if (!this.ready && this.allSeen()) {
      this.ready = true
      readyDocs += 1
    }
    if (control.cmd === "closed") {
      for (const [j, seq] of completed) {
        if (seq === this.seq[j] && now() < control.until) this.edit(j)
      }
    }
  }

  allSeen() {
    return this.seen.every((row, i) => row.every((s, j) => i === j || j >= writers || s >= 0))
  }

  startRate() {
    const { first: start, period, until } = control
    let next = start + (period * (this.index % total)) / total
    const tick = () => {
      if (control.cmd !== "rate" || next >= until) return
      this.edit(this.turn++ % this.handles.length)
      next += period
      this.timer = setTimeout(tick, Math.max(0, next - now()))
    }
    this.timer = setTimeout(tick, Math.max(0, next - now()))
  }

  lostCount() {
    let lost = 0
    for (const queue of this.pending) for (const p of queue) if (p.measured) lost += p.waiting
    return lost
  }
}

let readyDocs = 0
const sims = []
const started = now()
const deadline = setTimeout(
  () => fatal(`only ${readyDocs} of ${docs} documents reached every client within ${readyTimeoutMs} ms; problems: ${JSON.stringify(stats.problems)}`),
  readyTimeoutMs,
)

async function gather(d) {
  const index = first + d
  const name = c => `bench-js-${tag}-${index}-${c}`
  const creator = await client(name(0))
  const h0 = creator.create({ title: `bench document ${index}`, c0: 0 })
  const handles = [h0]
  const others = []
  for (let c = 1; c < clients; c++) others.push(joiner(name(c), h0.url))
  handles.push(...(await Promise.all(others)))
  for (let c = 1; c < Math.min(writers, clients); c++) handles[c].change(doc => { doc[`c${c}`] = 0 })
  sims.push(new DocSim(index, handles))
}

let next = 0
await Promise.all(
  Array.from({ length: Math.min(GATHER_CONCURRENCY, docs) }, async () => {
    while (next < docs) await gather(next++)
  }),
)
while (readyDocs < docs) await sleep(10)
clearTimeout(deadline)
out({
  ready: true,
  connections,
  find_retries: stats.find_retries,
  gather_ms: Math.round(now() - started),
  problems: stats.problem_count,
})

createInterface({ input: process.stdin }).on("line", line => {
  const command = JSON.parse(line)
  for (const sim of sims) clearTimeout(sim.timer)
  switch (command.cmd) {
    case "closed":
      control = command
      for (const sim of sims) for (let c = 0; c < sim.handles.length; c++) sim.edit(c)
      break
    case "rate":
      control = command
      for (const sim of sims) sim.startRate()
      break
    case "hold":
      // Edits in flight still arrive and count; no new ones.
      control = { ...control, cmd: "hold" }
      break
    case "stop":
      stopping = true
      for (const sim of sims) stats.lost += sim.lostCount()
      out({ stats })
      // Exit now rather than wait for every Repo's sockets and timers.
      process.exit(0)
      break
    default:
      fatal(`unknown command ${line}`)
  }
}).on("close", () => process.exit(0))
