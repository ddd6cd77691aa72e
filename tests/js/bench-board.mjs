// The board's speed on a big canvas, in Debian's Chromium: how long the
// first render takes (navigation start to every note on the page), and how
// long a change made elsewhere takes to reach the page's DOM.
//
//   node bench-board.mjs BOARD_URL=http://127.0.0.1:PORT/ GAPMAP=path/to/gapmap [ROUNDS=10] [INTERVIEW=ID]
//
// `gapmap ui` must be running on a store whose current canvas is the big one
// (GAPMAP_HOME set for this script too: the remote edits are `gapmap edit`
// commands, carried out by the board's own process). Prints one JSON line.
import { chromium } from "playwright-core"
import { execFile } from "node:child_process"
import { promisify } from "node:util"

const run = promisify(execFile)

const base = process.env.BOARD_URL
const gapmap = process.env.GAPMAP
const rounds = Number(process.env.ROUNDS || 10)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] })
const first = []
const firstPage = []
let notes = 0
for (let i = 0; i < 3; i++) {
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage()
  page.on("pageerror", (e) => console.error(`page error: ${e}`))
  await page.goto(base)
  await page.locator("body[data-ready=true]").waitFor({ timeout: 30000 })
  // The first paint after the notes are in the DOM.
  const t = await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0))))
  notes = await page.locator("#board [data-note-id]").count()
  first.push(t)
  // Of which the page's own work: the board message's arrival to its DOM.
  firstPage.push(await page.evaluate(() => Number(document.body.dataset.updateMs)))
  if (i < 2) await page.context().close()
  else {
    // A remote edit -> DOM update: from the board message's arrival to the
    // DOM brought up to date (the page's own work: parse, diff, patch; the
    // page writes it to body[data-update-ms]), and from the CLI command's
    // start to the new text seen in the DOM (the whole path, the CLI
    // process and the server included).
    const ids = await page.locator("#board [data-note-id]").evaluateAll((ns, k) => ns.slice(0, k).map((n) => n.dataset.noteId), rounds)
    const page_ms = []
    const whole_ms = []
    for (const [k, id] of ids.entries()) {
      const text = `Edited from the terminal at ${Date.now()}, round ${k}`
      // The watch is in the page before the command starts.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(r)))
      const watch = page.evaluate(({ id, text }) => new Promise((resolve) => {
        const el = document.querySelector(`[data-note-id="${id}"] .note-text`)
        const poll = () => {
          if (el.textContent === text) resolve({ update: Number(document.body.dataset.updateMs) })
          else requestAnimationFrame(poll)
        }
        poll()
      }), { id, text })
      const t0 = Date.now()
      await run(gapmap, ["edit", id, text])
      const r = await watch
      whole_ms.push(Date.now() - t0)
      page_ms.push(r.update)
    }
    // With INTERVIEW (an interview id): a finding added with the CLI ->
    // the note's evidence badge counts it, the whole path.
    const badge_ms = []
    if (process.env.INTERVIEW) {
      for (const [k, id] of ids.entries()) {
        const before = Number(await page.locator(`[data-note-id="${id}"] [data-evidence]`).getAttribute("data-supports"))
        const watch = page.waitForFunction(({ id, want }) =>
          Number(document.querySelector(`[data-note-id="${id}"] [data-evidence]`)?.dataset.supports) === want, { id, want: before + 1 }, { polling: "raf", timeout: 30000 })
        const t0 = Date.now()
        await run(gapmap, ["finding", "add", process.env.INTERVIEW, `Said in the terminal, round ${k}`, "--supports", id])
        await watch
        badge_ms.push(Date.now() - t0)
      }
    }
    console.log(JSON.stringify({ notes, cli_finding_to_badge_ms: badge_ms, cli_finding_to_badge_median_ms: badge_ms.length ? median(badge_ms) : null, first_render_ms: first.map(Math.round), first_render_median_ms: Math.round(median(first)),
      first_render_page_ms: firstPage.map(Math.round), first_render_page_median_ms: Math.round(median(firstPage)),
      update_ms: page_ms.map((x) => Math.round(x * 10) / 10), update_median_ms: median(page_ms), cli_edit_to_dom_ms: whole_ms, cli_edit_to_dom_median_ms: median(whole_ms) }))
  }
}
await browser.close()
