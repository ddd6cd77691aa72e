// Browser steps of the web board's end-to-end tests (tests/tests/e2e/board.rs),
// in Debian's Chromium driven by playwright-core (never a downloaded browser).
//
//   node board.test.mjs single   BOARD_URL=http://127.0.0.1:PORT/ CANVAS=ID
//   node board.test.mjs pair     BOARD_A=… BOARD_B=… CANVAS=ID
//   node board.test.mjs forms    BOARD_URL=http://127.0.0.1:PORT/
//   node board.test.mjs research BOARD_URL=… SUPPORTED=NOTE CONTRADICTED=NOTE
//
// The Rust side started `gapmap ui` and checks the stores. Protocol on
// stdout/stdin, one JSON object per line: this script prints
// {"checkpoint": NAME, …} and waits for the test's answer {"ok": true} (or
// {"ok": false, "why": …}, which fails the run); at the end it prints
// {"done": true, "requests": [every URL the pages asked for], "timings": …}.
// Exit code 0 when every step passed; 1 with the reason on stderr.
import { chromium } from "playwright-core"
import { createInterface } from "node:readline"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"

const scenario = process.argv[2]
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium"
const LIVE_MS = Number(process.env.LIVE_MS || 1000)
const out = (value) => console.log(JSON.stringify(value))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
async function checkpoint(name, data = {}) {
  out({ checkpoint: name, ...data })
  const { value, done } = await answers.next()
  if (done) throw new Error(`the test stopped answering at ${name}`)
  const reply = JSON.parse(value)
  if (!reply.ok) throw new Error(`checkpoint ${name}: ${reply.why}`)
  return reply
}

function check(condition, message) {
  if (!condition) throw new Error(message)
}

/** Resolves with how long (ms) it took until `locator` is attached; fails after `limit`. */
async function within(limit, locator, what) {
  const started = Date.now()
  try {
    await locator.waitFor({ state: "attached", timeout: Math.max(limit, 5000) })
  } catch {
    throw new Error(`${what}: not seen at all`)
  }
  const took = Date.now() - started
  check(took <= limit, `${what}: took ${took} ms, more than ${limit} ms`)
  return took
}

// axe-core (tests/js/package.json pins it), evaluated in the page from
// node_modules: the board's CSP lets no inline script in, rightly, and
// evaluating through the devtools protocol needs none.
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
const audited = []

/** Fails on any serious or critical axe-core violation on the page as it is now. */
async function axe(page, label) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE)
  const violations = await page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: tags })
    return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.impact} ${v.id} (${v.nodes.length}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`)
  }, AXE_TAGS)
  check(violations.length === 0, `axe-core on ${label}: ${violations.join("; ")}`)
  audited.push(label)
}

/** A note's actions appear on hover (and focus), as for a person with a mouse. */
async function noteAction(page, id, action) {
  await page.locator(`[data-note-id="${id}"] .note-text`).hover()
  await page.locator(`[data-note-id="${id}"] ${action}`).click()
}

const requests = []
const problems = []
const timings = {}

async function launch() {
  // launch() gives every run a fresh temporary profile (--user-data-dir).
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  })
}

async function newPage(browser, label) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } })
  context.on("request", (r) => requests.push(r.url()))
  const page = await context.newPage()
  page.on("websocket", (ws) => requests.push(ws.url()))
  page.on("pageerror", (e) => problems.push(`${label}: ${e}`))
  page.setDefaultTimeout(10000)
  return page
}

const note = (page, text, section) =>
  page.locator(section ? `[data-section="${section}"] [data-note-id]` : "#board [data-note-id]", { hasText: text })

async function addNote(page, section, text) {
  await page.click(`[data-section="${section}"] button.add`)
  await page.keyboard.insertText(text)
  await page.keyboard.press("Enter")
  const added = note(page, text, section)
  await added.waitFor()
  return added.getAttribute("data-note-id")
}

async function single() {
  const base = process.env.BOARD_URL
  const canvas = process.env.CANVAS
  const browser = await launch()
  const page = await newPage(browser, "board")
  await page.goto(base)
  await page.locator("[data-section='now'] [data-note-id]").first().waitFor()
  check((await page.locator("[data-section]").count()) >= 5, "the progress canvas shows its five sections")

  // Add, edit, drag to another section, reorder.
  const id = await addNote(page, "now", "Typed in the browser")
  await checkpoint("added", { id, section: "now", text: "Typed in the browser" })

  await page.locator(`[data-note-id="${id}"] .note-text`).dblclick()
  await page.keyboard.press("Control+A")
  await page.keyboard.insertText("Edited in the browser")
  await page.keyboard.press("Enter")
  await page.locator(`[data-note-id="${id}"]:not(.editing)`, { hasText: "Edited in the browser" }).waitFor()
  await checkpoint("edited", { id, text: "Edited in the browser" })

  await page.locator(`[data-note-id="${id}"]`).dragTo(page.locator("[data-section='to-be'] .notes"))
  await page.locator(`[data-section="to-be"] [data-note-id="${id}"]`).waitFor()
  await checkpoint("moved", { id, section: "to-be" })

  const first = page.locator("[data-section='to-be'] [data-note-id]").first()
  if ((await first.getAttribute("data-note-id")) !== id) {
    await page.locator(`[data-note-id="${id}"]`).dragTo(first, { targetPosition: { x: 20, y: 3 } })
    await page.waitForFunction((n) => document.querySelector("[data-section='to-be'] [data-note-id]")?.dataset.noteId === n, id)
  }
  await checkpoint("reordered", { id, section: "to-be", index: 0 })

  // Mark, tag, vote, comment.
  await page.locator(`[data-note-id="${id}"] .note-text`).hover()
  await page.locator(`[data-note-id="${id}"] select.status-select`).selectOption("validated")
  await page.locator(`[data-note-id="${id}"][data-status="validated"]`).waitFor()
  await checkpoint("marked", { id, status: "validated" })

  await noteAction(page, id, ".tag-btn")
  await page.keyboard.insertText("urgent")
  await page.keyboard.press("Enter")
  await page.locator(`[data-note-id="${id}"] .tag[data-tag="urgent"]`).waitFor()
  await checkpoint("tagged", { id, tag: "urgent" })

  await noteAction(page, id, ".vote")
  await page.locator(`[data-note-id="${id}"] .vote.voted`).waitFor()
  await checkpoint("voted", { id })

  await noteAction(page, id, ".comments")
  await page.locator("#thread textarea").fill("Did three people say so?")
  await page.locator("#thread .post").click()
  await page.locator("#thread .comment", { hasText: "Did three people say so?" }).waitFor()
  await page.locator("#thread .comment .resolve").click()
  await page.locator("#thread .comment.resolved").waitFor()
  await page.locator("#thread .close").click()
  await checkpoint("commented", { id, text: "Did three people say so?", resolved: true })

  // Trash and restore through the trash view.
  await noteAction(page, id, ".trash-btn")
  await page.locator(`#board [data-note-id="${id}"]`).waitFor({ state: "detached" })
  await checkpoint("trashed", { id })
  await page.click("[data-view='trash']")
  await axe(page, "trash")
  await page.locator(`.trash-list [data-note-id="${id}"] .restore`).click()
  await page.locator(`.trash-list [data-note-id="${id}"]`).waitFor({ state: "detached" })
  await page.click("[data-view='canvas']")
  await page.locator(`[data-section="to-be"] [data-note-id="${id}"]`).waitFor()
  await checkpoint("restored", { id })

  // Keyboard: n adds in the focused section, Escape cancels, arrows move focus.
  const seed = page.locator("[data-section='now'] [data-note-id]").first()
  await seed.focus()
  await page.keyboard.press("n")
  await page.keyboard.insertText("Never saved")
  await page.keyboard.press("Escape")
  await page.locator(".note.draft").waitFor({ state: "detached" })
  await seed.focus()
  await page.keyboard.press("ArrowRight")
  const focused = await page.evaluate(() => document.activeElement?.closest("[data-section]")?.dataset.section)
  check(focused === "constraint" || focused === "catalyst" || focused === "to-be", `ArrowRight moved focus to ${focused}`)
  await page.keyboard.press("n")
  await page.keyboard.insertText("Added with the keyboard")
  await page.keyboard.press("Enter")
  await note(page, "Added with the keyboard", focused).waitFor()
  await checkpoint("keyboard", { section: focused, text: "Added with the keyboard", absent: "Never saved" })

  // One tab stop per note: the note itself; its actions are reached with
  // `a` and the arrows inside, and Escape goes back to the note.
  const stops = await page.evaluate(() => Array.from(document.querySelectorAll("#board [data-note-id]")).map((n) =>
    [n.tabIndex, Array.from(n.querySelectorAll("button, select, input, a, [tabindex]")).filter((e) => e.tabIndex >= 0).length]))
  check(stops.length > 0 && stops.every(([own, inside]) => own === 0 && inside === 0), `tab stops per note: ${JSON.stringify(stops)}`)
  await seed.focus()
  await page.keyboard.press("a")
  check(await page.evaluate(() => document.activeElement?.dataset.action === "vote"), "a focuses the note's first action")
  await page.keyboard.press("ArrowRight")
  check(await page.evaluate(() => document.activeElement?.dataset.action === "comments"), "ArrowRight moves to the next action")
  await page.keyboard.press("Escape")
  check(await page.evaluate(() => document.activeElement?.matches("[data-note-id]")), "Escape goes back to the note")

  // Tabs are tabs: role, selection, names.
  const tabs = await page.locator("[role=tab]").evaluateAll((ts) => ts.map((t) => [t.textContent.trim(), t.getAttribute("aria-selected")]))
  check(tabs.length === 10 && tabs.filter(([, s]) => s === "true").length === 1 && tabs[0][1] === "true" && tabs.every(([n]) => n), `tabs: ${JSON.stringify(tabs)}`)

  // Move to…, with the keyboard: a button on the note, listing sections by name.
  const moving = page.locator("[data-section='now'] [data-note-id]").first()
  const movingId = await moving.getAttribute("data-note-id")
  await moving.focus()
  check((await moving.getByRole("button", { name: "Move to…" }).count()) === 1, "a focused note offers a Move to… button")
  await page.keyboard.press("m")
  const offered = await page.locator("[role=menu] [role=menuitem]").allTextContents()
  check(offered.join() === "Constraints,Catalysts,TO BE,Design", `Move to… offers ${offered}`)
  await page.locator("[role=menu] [role=menuitem]", { hasText: "Catalysts" }).focus()
  await page.keyboard.press("Enter")
  await page.locator(`[data-section="catalyst"] [data-note-id="${movingId}"]`).waitFor()
  await page.waitForFunction((n) => document.activeElement?.dataset.noteId === n, movingId)
  await checkpoint("moved", { id: movingId, section: "catalyst" })
  await page.locator(`[data-note-id="${movingId}"]`).getByRole("button", { name: "Move to…" }).click()
  await page.locator("[role=menuitem]", { hasText: "NOW" }).click()
  await page.locator(`[data-section="now"] [data-note-id="${movingId}"]`).waitFor()
  await checkpoint("moved", { id: movingId, section: "now" })

  // The other views, the job statement, the title, filters.
  await axe(page, "canvas")
  for (const [view, n] of [["forces", 4], ["jobmap", 8], ["outcomes", 3], ["jpg", 3]]) {
    await page.click(`[data-view='${view}']`)
    await page.locator(`#board[data-view='${view}']`).waitFor()
    check((await page.locator("#board [data-section]").count()) === n, `${view} shows ${n} sections`)
    check((await page.locator(`[role=tab][data-view='${view}']`).getAttribute("aria-selected")) === "true", `the ${view} tab is selected`)
    await axe(page, view)
  }
  await page.click("[data-view='job']")
  await axe(page, "job")
  await page.locator(".job-statement textarea").first().fill("a design project is delivered")
  await page.locator(".job-statement textarea").first().press("Enter")
  await page.locator(".sentence", { hasText: "a design project is delivered" }).waitFor()
  await checkpoint("job", { situation: "a design project is delivered" })
  await page.click("[data-view='canvas']")
  await page.locator("#title").dblclick()
  await page.keyboard.press("Control+A")
  await page.keyboard.insertText("Renamed on the board")
  await page.keyboard.press("Enter")
  await page.waitForFunction(() => document.title.startsWith("Renamed on the board"))
  await checkpoint("title", { title: "Renamed on the board" })
  await page.selectOption("#filter-tag", "urgent")
  await page.waitForFunction(() => document.querySelectorAll("#board .note:not(.filtered-out)").length === 1)
  await page.selectOption("#filter-tag", "")
  await page.selectOption("#filter-status", "validated")
  check((await page.locator("#board .note:not(.filtered-out)").count()) === 1, "the status filter shows the validated note")
  await page.selectOption("#filter-status", "")

  // A change from the CLI shows without a reload.
  await checkpoint("cli-add", { section: "constraint", text: "Added from the terminal" })
  timings.cli_add_ms = await within(LIVE_MS, note(page, "Added from the terminal", "constraint"), "a note added with the CLI")
  await checkpoint("cli-edit", { id, text: "Edited from the terminal" })
  timings.cli_edit_ms = await within(LIVE_MS, page.locator(`[data-note-id="${id}"]`, { hasText: "Edited from the terminal" }), "a note edited with the CLI")

  // Typing in one note while the CLI edits another: the note being typed in
  // is never redrawn, so the typed text and the caret (mid-text) stay.
  const other = await page.locator("[data-section='now'] [data-note-id]").first().getAttribute("data-note-id")
  check(other !== id, "another note to edit")
  await page.locator(`[data-note-id="${id}"] .note-text`).dblclick()
  await page.keyboard.press("End")
  await page.keyboard.insertText(" still typing")
  for (let i = 0; i < 6; i++) await page.keyboard.press("ArrowLeft")
  const before = await page.evaluate(() => Number(document.body.dataset.renders))
  await checkpoint("cli-edit", { id: other, text: "Changed elsewhere meanwhile" })
  await note(page, "Changed elsewhere meanwhile", "now").waitFor()
  await page.waitForFunction((n) => Number(document.body.dataset.renders) > n, before)
  const kept = await page.evaluate((id) => {
    const text = document.querySelector(`[data-note-id="${id}"] .note-text`)
    const sel = getSelection()
    const r = document.createRange()
    r.selectNodeContents(text)
    r.setEnd(sel.focusNode, sel.focusOffset)
    return { focused: document.activeElement === text, text: text.innerText, caret: r.toString().length }
  }, id)
  const typed = "Edited from the terminal still typing"
  check(kept.focused && kept.text === typed && kept.caret === typed.length - 6, `typing survived a remote edit: ${JSON.stringify(kept)}`)
  await page.keyboard.insertText("!")
  check((await page.locator(`[data-note-id="${id}"] .note-text`).innerText()) === "Edited from the terminal still !typing", "the next key lands at the caret")
  await page.keyboard.press("Escape")
  await page.locator(`[data-note-id="${id}"]:not(.editing) .note-text`, { hasText: /^Edited from the terminal$/ }).waitFor()

  // Typing in a note while someone else changes it: both edits survive.
  await page.locator(`[data-note-id="${id}"] .note-text`).dblclick()
  await page.keyboard.press("End")
  await page.keyboard.insertText(" (and the board)")
  const renders = await page.evaluate(() => Number(document.body.dataset.renders))
  await checkpoint("cli-concurrent", { id, text: "Meanwhile: Edited from the terminal" })
  // The board redraws with the CLI's change around the open editor.
  await page.waitForFunction((n) => Number(document.body.dataset.renders) > n, renders)
  check((await page.locator(`[data-note-id="${id}"] .note-text`).innerText()) === "Edited from the terminal (and the board)", "the editor keeps what was typed")
  await page.keyboard.press("Enter")
  await page.locator(`[data-note-id="${id}"]:not(.editing)`, { hasText: "Meanwhile: Edited from the terminal (and the board)" }).waitFor()
  await checkpoint("merged", { id, text: "Meanwhile: Edited from the terminal (and the board)" })

  // Markup in notes is text: from the board and from the CLI.
  const markup = `<img src="/nothing.png" onerror="window.__pwned = 'img'"><script>window.__pwned = 'script'</script>`
  await addNote(page, "design", markup)
  await checkpoint("cli-script", { section: "design", text: "<script>window.__pwned = 'cli'</script>" })
  await note(page, "window.__pwned = 'cli'", "design").waitFor()
  await sleep(300)
  check((await page.evaluate(() => window.__pwned)) === undefined, "markup in a note ran")
  check((await page.locator("#board script, #board img").count()) === 0, "markup in a note became elements")

  // Very long text is refused with a message; the editor keeps it.
  await page.click("[data-section='now'] button.add")
  await page.keyboard.insertText("x".repeat(5000))
  await page.keyboard.press("Enter")
  await page.locator("#message", { hasText: "too long" }).waitFor()
  check((await page.locator(".note.draft").count()) === 1, "the refused note's editor stays open")
  await page.keyboard.press("Escape")
  await checkpoint("long-refused", { length: 5000 })

  // Malformed messages on the page's socket are refused; nothing breaks.
  const replies = await page.evaluate(async ({ canvas, id }) => {
    const ws = new WebSocket(`ws://${location.host}/api/ws?canvas=${canvas}`)
    const got = []
    ws.onmessage = (e) => got.push(JSON.parse(e.data))
    await new Promise((r) => { ws.onopen = r })
    const bad = [
      "not json", "[1,2,3]", "{}", JSON.stringify({ op: "explode" }), JSON.stringify({ op: "add" }),
      JSON.stringify({ op: "add", section: "nowhere", text: "x" }),
      JSON.stringify({ op: "add", section: "now", text: "x", sneaky: true }),
      JSON.stringify({ op: "edit", note: "nosuchnote", text: "x" }),
      JSON.stringify({ op: "mark", note: id, status: "maybe" }),
      JSON.stringify({ op: "add", section: "now", text: "y".repeat(100000) }),
    ]
    for (const m of bad) ws.send(m)
    ws.send(new Uint8Array([1, 2, 3]))
    ws.send(JSON.stringify({ op: "trash", note: id, ref: 1 }))
    ws.send(JSON.stringify({ op: "edit", note: id, text: "edited while trashed", ref: 2 }))
    ws.send(JSON.stringify({ op: "restore", note: id, ref: 3 }))
    ws.send(JSON.stringify({ op: "history", ref: 4 }))
    const until = Date.now() + 5000
    while (!got.some((m) => m.ref === 4) && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    const open = ws.readyState === WebSocket.OPEN
    ws.close()
    return { got: got.filter((m) => m.type === "error" || m.ref), open }
  }, { canvas, id })
  const errors = replies.got.filter((m) => m.type === "error" && m.ref == null)
  check(errors.length === 11, `want 11 refusals, got ${JSON.stringify(replies.got)}`)
  check(replies.got.find((m) => m.ref === 2)?.type === "error", "an edit of a trashed note is refused")
  check(replies.got.find((m) => m.ref === 2)?.message.includes("trash"), "the refusal says the note is in the trash")
  check(replies.got.find((m) => m.ref === 4)?.type === "history", "the socket still answers after bad input")
  check(replies.open, "the socket stays open after bad input")
  await checkpoint("malformed", { id })

  // History: the slider shows the canvas at its first change, read-only.
  await page.click("[data-view='history']")
  await page.locator(".history-slider").waitFor()
  await page.locator(".snapshot").waitFor()
  await axe(page, "history")
  await page.locator(".history-slider").fill("1")
  await page.locator(".history-index", { hasText: /^1 of/ }).waitFor()
  await page.waitForFunction(() => document.querySelectorAll(".snapshot [data-note-id]").length === 0)
  check((await page.locator(".snapshot button.add, .snapshot select").count()) === 0, "the past is read-only")
  await page.click("button.highlight")
  await page.locator("#board .note.since-new").first().waitFor()
  await page.keyboard.press("Escape")

  // A phone: one column, no keyboard legend on a touch screen, still accessible.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true })
  const small = await phone.newPage()
  small.on("pageerror", (e) => problems.push(`phone: ${e}`))
  await small.goto(base)
  await small.locator("[data-section='now'] [data-note-id]").first().waitFor()
  check(!(await small.locator(".help").isVisible()), "the keyboard legend is hidden on a touch screen")
  const widest = await small.evaluate(() => document.documentElement.scrollWidth)
  check(widest <= 390, `the phone layout is ${widest} px wide`)
  await axe(small, "canvas at 390 px")
  await phone.close()

  // Exports come from the board's own server.
  const png = await page.evaluate(async (url) => {
    const r = await fetch(url)
    return [r.status, Array.from(new Uint8Array(await r.arrayBuffer()).slice(0, 8))]
  }, `/c/${canvas}/export/png`)
  check(png[0] === 200 && png[1][1] === 0x50 && png[1][2] === 0x4e && png[1][3] === 0x47, `PNG export: ${png}`)

  // An unknown canvas gets a clear page.
  const missing = await page.goto(new URL("c/NoSuchCanvasAnywhere", base).href)
  check(missing.status() === 404, `unknown canvas answered ${missing.status()}`)
  await page.locator("h1", { hasText: "No such canvas" }).waitFor()

  await browser.close()
}

async function pair() {
  const [a, b] = [process.env.BOARD_A, process.env.BOARD_B]
  const canvas = process.env.CANVAS
  const browser = await launch()
  const pageA = await newPage(browser, "ana")
  const pageB = await newPage(browser, "ben")
  await pageA.goto(new URL(`c/${canvas}`, a).href)
  await pageA.locator("#board [data-note-id]").first().waitFor()
  await pageB.goto(new URL(`c/${canvas}`, b).href)
  await pageB.locator("#board [data-note-id]").first().waitFor()

  // A conflict made offline shows both values on both boards; keeping one
  // on Ana's board ends it on Ben's.
  const conflict = process.env.CONFLICT
  const conflicted = (page) => page.locator(`[data-note-id="${conflict}"] .conflict[data-conflict="status"]`)
  await conflicted(pageA).waitFor()
  await conflicted(pageB).waitFor()
  const values = (await conflicted(pageA).locator(".pick").allTextContents()).sort()
  check(values.join() === "invalidated,validated", `the conflict offers ${values}`)
  await conflicted(pageA).locator(".pick[data-value='validated']").click()
  timings.resolve_ms = await within(LIVE_MS, pageB.locator(`[data-note-id="${conflict}"][data-status="validated"]:not(:has(.conflict))`), "the resolution on Ben's board")
  await checkpoint("resolved", { id: conflict, section: "now", text: "Chases payments every Friday", status: "validated" })

  // Presence crosses the relay both ways.
  timings.presence_b_ms = await within(LIVE_MS, pageB.locator("#people [data-person='ana']"), "Ben sees Ana")
  timings.presence_a_ms = await within(LIVE_MS, pageA.locator("#people [data-person='ben']"), "Ana sees Ben")

  // Edits cross the relay both ways.
  const id = await addNote(pageA, "constraint", "Ana typed this")
  timings.edit_a_to_b_ms = await within(LIVE_MS, note(pageB, "Ana typed this", "constraint"), "Ana's note on Ben's board")
  await pageB.locator(`[data-note-id="${id}"] .note-text`).dblclick()
  // Ben editing shows on Ana's board, with his name.
  timings.editing_ms = await within(LIVE_MS, pageA.locator(`[data-note-id="${id}"] .editing-by[data-editor="ben"]`), "Ana sees Ben editing")
  await pageB.keyboard.press("End")
  await pageB.keyboard.insertText(", and Ben added this")
  await pageB.keyboard.press("Enter")
  timings.edit_b_to_a_ms = await within(LIVE_MS, note(pageA, "Ana typed this, and Ben added this", "constraint"), "Ben's edit on Ana's board")
  await pageA.locator(`[data-note-id="${id}"] .editing-by`).waitFor({ state: "detached" })
  await pageB.locator(`[data-note-id="${id}"] .note-text`).hover()
  await pageB.locator(`[data-note-id="${id}"] select.status-select`).selectOption("invalidated")
  await pageA.locator(`[data-note-id="${id}"][data-status="invalidated"]`).waitFor({ timeout: 3000 })
  await checkpoint("converged", { id, section: "constraint", text: "Ana typed this, and Ben added this", status: "invalidated" })

  // Ben leaves: Ana's board stops listing him.
  await pageB.close()
  await pageA.locator("#people [data-person='ben']").waitFor({ state: "detached", timeout: 5000 })
  await browser.close()
}

// The board's HTML form (a new canvas), submitted as a person would, then
// the same form posted by a page of another site (served by playwright from
// memory, nothing leaves the machine), which the board must refuse.
async function forms() {
  const base = process.env.BOARD_URL
  const browser = await launch()
  const page = await newPage(browser, "forms")
  await page.goto(new URL("canvases", base).href)
  await page.fill("form.new-canvas input[name=title]", "Made in a browser form")
  await Promise.all([
    page.waitForURL(/\/c\/[^/]+$/),
    page.click("form.new-canvas button[type=submit]"),
  ])
  check(!(await page.content()).includes("Not this way"), "the board refused its own form")
  const id = new URL(page.url()).pathname.split("/").pop()
  await page.locator("[data-section='now']").waitFor()
  const note = await addNote(page, "now", "Added on the new canvas")
  await checkpoint("created", { id, title: "Made in a browser form", note })

  const evil = "http://evil.test/"
  await page.route(`${evil}**`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!DOCTYPE html><title>elsewhere</title><p>another site</p>" }))
  await page.goto(evil)
  await Promise.all([
    page.waitForURL(new URL("canvases", base).href),
    page.evaluate((target) => {
      const form = document.createElement("form")
      form.method = "post"
      form.action = target
      const title = document.createElement("input")
      title.name = "title"
      title.value = "From another origin"
      form.append(title)
      document.body.append(form)
      form.submit()
    }, new URL("canvases", base).href),
  ])
  await page.locator("text=Not this way").waitFor()
  await checkpoint("refused", { title: "From another origin" })
  await browser.close()
}

/** Every note's badge on the page: id -> [supports, contradicts, interviewees]. */
const badges = (page) => page.locator("#board [data-note-id]").evaluateAll((notes) => Object.fromEntries(notes.map((n) => {
  const b = n.querySelector("[data-evidence]")
  return [n.dataset.noteId, b ? [b.getAttribute("data-supports"), b.getAttribute("data-contradicts"), b.dataset.interviewees] : null]
})))

const badge = (page, id, attrs) => page.locator(`#board [data-note-id="${id}"] [data-evidence]${attrs}`)

// A research round on the board alone: an interview, three transcript
// lines, a finding for one note and one against another, the badges; then a
// finding from the CLI reaches the open page.
async function research() {
  const base = process.env.BOARD_URL
  const [supported, contradicted] = [process.env.SUPPORTED, process.env.CONTRADICTED]
  const browser = await launch()
  const page = await newPage(browser, "research")
  await page.goto(base)
  await page.locator("#board [data-note-id]").first().waitFor()
  await checkpoint("badges", { badges: await badges(page) })

  const tab = page.getByRole("tab", { name: "Interviews" })
  await tab.click()
  check((await tab.getAttribute("aria-selected")) === "true", "the Interviews tab is selected")
  await page.locator("#board[data-view='interviews']").waitFor()
  await axe(page, "interviews, none yet")
  await page.getByRole("button", { name: "New interview" }).click()
  await page.getByLabel("Interviewee").fill("Maria Lopez")
  await page.getByLabel("Interviewee").press("Enter")
  const item = page.locator("[data-interview-id]", { hasText: "Maria Lopez" })
  await item.waitFor()
  const interview = await item.getAttribute("data-interview-id")
  const line = page.getByLabel("Transcript line")
  await page.waitForFunction(() => document.activeElement?.matches(".transcript-input"))
  const said = ["I chase every client on Friday", "Our biggest client pays in two weeks anyway", "I would pay for reminders"]
  for (const text of said) {
    await line.fill(text)
    await line.press("Enter")
    await page.locator(".transcript li", { hasText: text }).waitFor()
  }
  check((await line.inputValue()) === "", "the Transcript line is empty after Enter")
  await checkpoint("transcript", { interview, lines: said })

  const makeFinding = async (n, effect, note) => {
    await page.locator(".transcript li", { hasText: said[n] }).getByRole("button", { name: /Make a finding/ }).click()
    check((await page.getByLabel("Quote").inputValue()) === said[n], "the quote is the line")
    await page.getByLabel("Effect").selectOption(effect)
    await page.getByLabel("Note", { exact: true }).selectOption(note)
    await page.getByRole("button", { name: "Add finding" }).click()
    await page.locator(".findings .finding", { hasText: said[n] }).waitFor()
  }
  await makeFinding(0, "supports", supported)
  await makeFinding(1, "contradicts", contradicted)
  await page.locator("[data-interview-id]", { hasText: "2 findings" }).waitFor()
  await axe(page, "an open interview")
  await checkpoint("findings", { interview, supported, contradicted, quotes: [said[0], said[1]] })

  await page.getByRole("tab", { name: "Progress canvas" }).click()
  await badge(page, supported, "[data-supports='1'][data-contradicts='0']").waitFor()
  await badge(page, contradicted, "[data-supports='0'][data-contradicts='1']").waitFor()
  await checkpoint("badges", { badges: await badges(page) })

  await badge(page, supported, "").click()
  const panel = page.locator("#evidence")
  await panel.locator(".finding", { hasText: said[0] }).locator(".interviewee", { hasText: "Maria Lopez" }).waitFor()
  await axe(page, "a note's evidence")
  await page.keyboard.press("Escape")
  await panel.waitFor({ state: "hidden" })

  // A finding from the terminal reaches the open page without a reload.
  await checkpoint("cli-finding", { interview, note: contradicted })
  timings.cli_badge_ms = await within(LIVE_MS, badge(page, contradicted, "[data-supports='1'][data-contradicts='1']"), "the CLI's finding on the badge")
  await checkpoint("badges", { badges: await badges(page) })

  // The review (two interviewees now support the first note: the CLI added
  // one) suggests validating it; applying the suggestion marks it.
  await page.getByRole("tab", { name: "Review" }).click()
  const suggestion = page.locator(`[data-review-note="${supported}"][data-suggestion="validate"]`)
  await suggestion.waitFor()
  check((await suggestion.locator(".review-findings li").count()) === 2, "the review shows the two findings behind the suggestion")
  const rows = await page.locator("[data-review-note]").evaluateAll((rs) => rs.map((r) => [r.dataset.reviewNote, r.dataset.suggestion]))
  await checkpoint("review", { rows })
  await axe(page, "review")
  await suggestion.getByRole("button", { name: "Mark validated" }).click()
  await page.locator(`[data-review-note="${supported}"]`).waitFor({ state: "detached" })
  await checkpoint("applied", { note: supported, status: "validated" })

  // Round 2 starts on the board, focused on the constraints.
  await page.getByRole("tab", { name: "History" }).click()
  await page.getByLabel("Round label").fill("Round 2")
  await page.locator(".round-form summary").click()
  await page.locator(".round-form").getByLabel("Constraints").check()
  await page.getByRole("button", { name: "Start round" }).click()
  await page.locator(".rounds [data-round]", { hasText: "Round 2" }).waitFor()
  await axe(page, "history with the round form")
  await checkpoint("round", { label: "Round 2", focus: ["constraint"] })
  await browser.close()
}

try {
  if (scenario === "single") await single()
  else if (scenario === "research") await research()
  else if (scenario === "pair") await pair()
  else if (scenario === "forms") await forms()
  else throw new Error("usage: node board.test.mjs single|pair|forms|research")
  check(problems.length === 0, `errors in the page: ${problems.join("; ")}`)
  out({ done: true, requests, timings, audited })
  process.exit(0)
} catch (err) {
  console.error(`board.test.mjs ${scenario}: ${err && err.stack ? err.stack : err}`)
  out({ failed: String(err && err.message ? err.message : err), requests, timings })
  process.exit(1)
}
