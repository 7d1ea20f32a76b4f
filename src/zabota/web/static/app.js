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

  // Collision notice: a heartbeat says we are here (and whether we type); the answer says
  // who else is on this ticket.
  if (root && root.dataset.live === "ticket") {
    const box = document.getElementById("collision");
    const reply = document.getElementById("reply-text");
    let typedAt = 0;
    if (reply) reply.addEventListener("input", () => { typedAt = Date.now(); });
    const beat = () => {
      const body = new URLSearchParams({ csrf_token: root.dataset.csrf,
        state: Date.now() - typedAt < 15000 ? "replying" : "viewing" });
      fetch("/agent/tickets/" + root.dataset.ticket + "/presence", { method: "POST", body: body,
        credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)).then((data) => {
        if (!data || !box) return;
        const replying = data.others.filter((o) => o.state === "replying").map((o) => o.name);
        const viewing = data.others.filter((o) => o.state !== "replying").map((o) => o.name);
        const parts = [];
        if (replying.length) parts.push(root.dataset.replying.replace("{names}", replying.join(", ")));
        if (viewing.length) parts.push(root.dataset.viewing.replace("{names}", viewing.join(", ")));
        box.textContent = parts.join(" · ");
        box.hidden = parts.length === 0;
      });
    };
    beat();
    setInterval(beat, 8000);
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
