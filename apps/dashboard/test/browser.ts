import fs from "node:fs";
import path from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";

const REPO_ROOT = path.resolve(__dirname, "../../..");
/** Where the browser tests leave a screenshot of every page, at each width (named in the README). */
export const SCREENSHOT_DIR = path.join(REPO_ROOT, "test-results/screenshots");
export const DASHBOARD_DIST = path.join(REPO_ROOT, "apps/dashboard/dist/index.html");
export const WIDE = 1280;
export const NARROW = 390;

/** Debian's Chromium (scripts/lib.sh installs it); playwright's own browser download does not work here. */
export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(DASHBOARD_DIST)) throw new Error(`${DASHBOARD_DIST} is missing: build the dashboard first (./scripts/test.sh does)`);
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export interface DashboardPage {
  page: Page;
  /** Console errors and uncaught exceptions so far; a test fails if any is left at its end. */
  errors: string[];
  close(): Promise<void>;
}

/** A fresh browser context (its own sessionStorage) on the dashboard, recording console errors. */
export async function openDashboard(browser: Browser, apiUrl: string): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport: { width: WIDE, height: 900 }, baseURL: apiUrl });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  await page.goto("/dashboard/");
  return { page, errors, close: () => context.close() };
}

/**
 * Saves `name`-1280.png and `name`-390.png of the current page, and checks that at 390 px nothing makes
 * the page wider than the screen (readable on a phone without sideways scrolling).
 */
export async function snapshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-${WIDE}.png`), fullPage: true });
  await page.setViewportSize({ width: NARROW, height: 844 });
  try {
    // Page-side code as strings: these tests compile without the DOM library.
    await page.waitForFunction(`window.innerWidth === ${NARROW}`);
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect({ page: name, overflowPx: overflow }).toEqual({ page: name, overflowPx: 0 });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-${NARROW}.png`), fullPage: true });
  } finally {
    await page.setViewportSize({ width: WIDE, height: 900 });
  }
}

/** Signs in on the sign-in form with an API key. */
export async function signInWithKey(page: Page, key: string): Promise<void> {
  await page.getByRole("button", { name: "API key" }).click();
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Tasks" }).waitFor();
}

/** Signs in on the sign-in form with email and password. */
export async function signInWithPassword(page: Page, email: string, password: string): Promise<void> {
  await page.getByRole("button", { name: "Email and password" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Tasks" }).waitFor();
}

/** The row of a task in the tasks table. */
export function taskRowLocator(page: Page, taskId: string) {
  return page.locator(`tr[data-task-id="${taskId}"]`);
}
