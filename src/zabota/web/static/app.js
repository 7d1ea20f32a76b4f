// Small progressive enhancements: live refresh over SSE and keyboard shortcuts.
(function () {
  "use strict";
  const root = document.querySelector("[data-live]");

  function refresh(url, targetId) {
    fetch(url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => {
        const target = document.getElementById(targetId);
        if (html !== null && target) target.innerHTML = html;
      });
  }

  if (root && window.EventSource && root.dataset.live !== "portal") {
    const source = new EventSource("/agent/live?after=" + (root.dataset.last || 0));
    source.addEventListener("changed", (event) => {
      const data = JSON.parse(event.data);
      if (root.dataset.live === "inbox") {
        refresh("/agent/rows?" + (root.dataset.params || ""), "rows");
      } else if (root.dataset.live === "ticket" && data.tickets.includes(Number(root.dataset.ticket))) {
        refresh("/agent/tickets/" + root.dataset.ticket + "/timeline", "timeline");
      }
    });
  }

  document.addEventListener("keydown", (event) => {
    const typing = /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName);
    if (typing) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        const form = document.activeElement.form;
        if (form) form.requestSubmit();
      }
      return;
    }
    if (event.key === "/") { const q = document.getElementById("q"); if (q) { event.preventDefault(); q.focus(); } }
    if (event.key === "r") { const r = document.getElementById("reply-text"); if (r) { event.preventDefault(); r.focus(); } }
    if (event.key === "g") { window.location.href = "/agent"; }
    if (event.key === "?") { const help = document.getElementById("shortcuts"); if (help) help.showModal(); }
  });
})();
