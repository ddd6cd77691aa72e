// The research screenshots in docs/ (docs/research-board.png,
// docs/research-evidence.png, docs/research-review.png), taken from a running
// board in Debian's Chromium: the Interviews view with an interview open and a
// finding being made from a transcript line, the canvas with a note's
// evidence open, and the Review view.
//
//   node shoot-research.mjs BOARD_URL OUT_DIR INTERVIEWEE NOTE
import { chromium } from "playwright-core"

const [base, dir, interviewee, noteId] = process.argv.slice(2)
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] })
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage()
await page.goto(base)
await page.locator("#board [data-note-id]").first().waitFor()
await page.getByRole("tab", { name: "Interviews" }).click()
await page.locator("[data-interview-id]", { hasText: interviewee }).click()
await page.locator(".transcript li").nth(2).getByRole("button", { name: /Make a finding/ }).click()
await page.getByLabel("Note", { exact: true }).selectOption({ label: "Automatic, polite reminders" })
await page.getByLabel("Interpretation (optional)").fill("the tone matters more than the timing")
await page.screenshot({ path: `${dir}/research-board.png` })
await page.getByRole("tab", { name: "Progress canvas" }).click()
await page.locator(`[data-note-id="${noteId}"] [data-evidence]`).click()
await page.locator("#evidence .finding").first().waitFor()
await page.mouse.move(700, 880)
await page.screenshot({ path: `${dir}/research-evidence.png` })
await page.keyboard.press("Escape")
await page.getByRole("tab", { name: "Review" }).click()
await page.locator("[data-review-note]").first().waitFor()
await page.screenshot({ path: `${dir}/research-review.png` })
await browser.close()
