// A page's own TypeScript using the Percus SDK, checked against percus.d.ts
// (served at <gateway>/sdk/percus.d.ts; docs/sdk.md, "TypeScript").
/// <reference path="../../js/dist/percus.d.ts" />

const cookieBanner = document.querySelector<HTMLButtonElement>("#accept-cookies");
cookieBanner?.addEventListener("click", () => Percus.acceptConsent());

// Payloads are typed per event type: cta_name is a string (or absent), percent a number.
Percus.on("cta.clicked", ({payload, embed}) => {
  const label: string = payload.cta_name ?? payload.cta_id;
  console.log(`${label} clicked in session ${embed.sessionId}`);
});
Percus.on("video.progressed", ({payload}) => {
  if (payload.percent >= 75) document.body.classList.add("almost-done");
}, {replay: true});
Percus.on("*", (event) => console.debug(event.type, event.payload));

const element = document.querySelector("#late-embed");
if (element) {
  const embed = Percus.embed(element, {autoplay: true, personalizationData: {firstName: "Ana"}});
  if (embed?.settings.enableTracking && embed.settings.environment === "STAGING") embed.command("replay");
}

// A test awaits delivery before it reads what the gateway stored.
async function delivered(): Promise<void> {
  await Percus.flush();
}
void delivered();

// Pages migrated from Individeo keep their globals, typed too.
window.BluePlayer?.current?.initIndivideo({firstName: "Ana"});
window.smartEmbedModal?.open("ATT-1234");
