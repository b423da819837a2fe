// Andes Pensiones' offer page against Percus Micro (`percus micro`, or PERCUS_MICRO_URL): the real
// SDK, player and gateway checks; no sleeps, no network mocks.
import { test, expect, type APIRequestContext } from "@playwright/test";

const MICRO = process.env.PERCUS_MICRO_URL ?? "http://127.0.0.1:9090";

// Micro hosts the page for the test, on another origin than its own (localhost, not 127.0.0.1), as a
// customer's site is; yours may come from your own dev server instead.
async function openOfferPage(page, request: APIRequestContext) {
  const { token } = await (await request.get(`${MICRO}/micro/token`)).json();
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Offer</title></head><body>
    <div id="cookies">We use cookies to measure how our videos are watched.
      <button onclick="Percus.acceptConsent(); this.parentNode.remove()">Accept cookies</button>
      <button onclick="Percus.declineConsent(); this.parentNode.remove()">Only necessary cookies</button>
    </div>
    <div data-percus-embed data-percus-share-token="${token}" data-percus-recipient-code="CRM-0042"
         data-percus-enable-tracking="true"></div>
    <script src="${MICRO}/sdk/percus-embed-sdk.js"></script>
  </body></html>`;
  await request.put(`${MICRO}/micro/pages/offer.html`, { data: html, headers: { "Content-Type": "text/html" } });
  await page.goto(`${MICRO.replace("127.0.0.1", "localhost")}/micro/pages/offer.html`);
}

// The matching events once `count` of them reached Micro (a 408 names what did arrive).
async function waitFor(request: APIRequestContext, eventType: string, filters: Record<string, string> = {}, count = 1) {
  const answer = await request.get(`${MICRO}/micro/wait`, { params: { event_type: eventType, count, timeout: 10, ...filters } });
  expect(answer.status(), await answer.text()).toBe(200);
  return (await answer.json()).events;
}

test.beforeEach(async ({ request }) => {
  await request.post(`${MICRO}/micro/reset`);
});

test("a CTA click is reported once the visitor accepted cookies", async ({ page, request }) => {
  await openOfferPage(page, request);
  await page.getByRole("button", { name: "Accept cookies" }).click();
  await page.frameLocator("iframe").getByRole("button", { name: "Simulate my pension" }).click();

  const [click] = await waitFor(request, "cta.clicked", { cta_name: "Simulate my pension" });
  expect(click.consent.tracking).toBe(true);
  expect(click.payload.cta_value).toBe("simulator");
  expect((await (await request.get(`${MICRO}/micro/bad`)).json()).refused).toEqual([]);
});

test("nothing but the decision is sent when the visitor declines", async ({ page, request }) => {
  await openOfferPage(page, request);
  await page.getByRole("button", { name: "Only necessary cookies" }).click();
  await page.frameLocator("iframe").getByRole("button", { name: "Simulate my pension" }).click();
  // Once the page has seen the click (replay: even if it came first), flush() settles when everything
  // the SDK queued has been answered: then Micro holds all it will ever get from this page.
  await page.evaluate(() => new Promise((seen) => window.Percus.on("cta.clicked", seen, { replay: true }))
    .then(() => window.Percus.flush()));

  const good = (await (await request.get(`${MICRO}/micro/good`)).json()).events;
  expect(good.map((event) => event.event_type)).toEqual(["consent.declined"]);
  expect((await (await request.get(`${MICRO}/micro/bad`)).json()).refused).toEqual([]);
});
