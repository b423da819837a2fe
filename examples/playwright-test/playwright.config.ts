import { defineConfig } from "@playwright/test";

// A browser already on the machine (Debian's Chromium, say) instead of Playwright's download.
const chromium = process.env.CHROMIUM_PATH;

export default defineConfig({
  testDir: ".",
  workers: 1, // the specs share one Percus Micro and each resets it
  reporter: "list",
  use: {
    launchOptions: chromium
      ? { executablePath: chromium, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] }
      : {},
  },
});
