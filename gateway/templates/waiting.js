// The dashboard's waiting page: asks every few seconds whether the organization's first event is
// counted, then reloads into the live view. The only script of the dashboard.
(() => {
  const script = document.currentScript;
  const url = script.dataset.statusUrl;
  const every = Number(script.dataset.everyMs) || 3000;
  const ask = async () => {
    try {
      const response = await fetch(url, {credentials: "same-origin", cache: "no-store"});
      // Counted: the live view. Signed out or refused: the page itself says what to do.
      if (!response.ok || (await response.json()).counted) {
        window.location.reload();
        return;
      }
    } catch (error) {
      // The server is restarting: ask again.
    }
    window.setTimeout(ask, every);
  };
  window.setTimeout(ask, every);
})();
