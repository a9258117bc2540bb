// cutover dashboard: follows the page's event stream (body[data-live]) and swaps in the parts
// the server sends again. The parts are HTML the server rendered and escaped; nothing here
// builds markup from journal text. No framework, no build step, no network beyond this server.
"use strict";
(function () {
  const url = document.body.dataset.live;
  const state = document.getElementById("live-state");
  const say = (text, cls) => {
    if (!state) return;
    state.textContent = text;
    state.className = "live-state " + (cls || "");
  };
  if (!url || !window.EventSource) return;
  let source = null;
  const connect = () => {
    source = new EventSource(url);
    source.onopen = () => say("live", "on");
    source.onerror = () => {
      say("reconnecting…", "off");
      // The browser retries a dropped stream by itself, but not one the server refused (503,
      // 401): try again later with a fresh stream.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    };
    source.addEventListener("update", (e) => {
      const update = JSON.parse(e.data);
      for (const [id, html] of Object.entries(update.fragments)) {
        const el = document.getElementById(id);
        if (el) el.innerHTML = html;
      }
      document.body.dataset.seq = String(update.seq);
      say("live · updated " + new Date().toLocaleTimeString(), "on");
    });
    source.addEventListener("problem", (e) => say(e.data, "off"));
  };
  connect();
  // Leave the server nothing to keep open once the page goes away.
  window.addEventListener("pagehide", () => source && source.close());
})();
