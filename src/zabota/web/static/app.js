// Small progressive enhancements: live refresh over SSE and keyboard shortcuts.
(function () {
  "use strict";
  const root = document.querySelector("[data-live]");

  // A form that failed comes back at its POST address (…/reply): show the page's own, so a
  // reload does not send the form again.
  if (root && root.dataset.live === "ticket") {
    const own = "/agent/tickets/" + root.dataset.ticket;
    if (location.pathname !== own) history.replaceState(null, "", own);
  }

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

// Knowledge base: the agent's assist panel (suggested articles, canned responses) and the
// articles suggested while a customer writes a new request.
(function () {
  "use strict";

  function insertIntoReply(text) {
    const reply = document.getElementById("reply-text");
    if (!reply) return;
    const start = reply.selectionStart ?? reply.value.length;
    const end = reply.selectionEnd ?? reply.value.length;
    const before = reply.value.slice(0, start);
    const glue = before && !before.endsWith("\n") ? "\n" : "";
    reply.value = before + glue + text + reply.value.slice(end);
    reply.focus();
    reply.selectionStart = reply.selectionEnd = (before + glue + text).length;
    reply.dispatchEvent(new Event("input"));
  }

  const panel = document.getElementById("kb-assist");
  if (panel && panel.dataset.src) {
    const load = (url) => fetch(url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => { if (html !== null) panel.innerHTML = html; });
    load(panel.dataset.src);
    panel.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.dataset.insert !== undefined) insertIntoReply(button.dataset.insert);
      if (button.hasAttribute("data-insert-canned")) {
        const select = document.getElementById("kb-canned");
        const option = select && select.selectedOptions[0];
        if (option) insertIntoReply(option.dataset.text);
      }
    });
    panel.addEventListener("submit", (event) => {
      const form = event.target.closest("form[data-assist-search]");
      if (!form) return;
      event.preventDefault();
      const q = new URLSearchParams(new FormData(form)).get("q") || "";
      load(form.action + "?fragment=1&q=" + encodeURIComponent(q));
    });
  }

  const box = document.getElementById("kb-suggestions");
  if (box) {
    const fields = ["subject", "description"].map((id) => document.getElementById(id)).filter(Boolean);
    const list = box.querySelector("ul");
    let timer = 0;
    let asked = "";
    const show = (results, query) => {
      list.textContent = "";
      results.forEach((hit) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = hit.url; link.target = "_blank"; link.rel = "noopener"; link.textContent = hit.title;
        // The button submits the separate deflection form: forms cannot nest.
        const button = document.createElement("button");
        button.type = "submit"; button.setAttribute("form", "kb-deflect");
        button.name = "article_id"; button.value = hit.id; button.textContent = box.dataset.solved;
        button.addEventListener("click", () => {
          document.querySelector("#kb-deflect input[name=query]").value = query;
        });
        const snippet = document.createElement("p");
        snippet.textContent = hit.snippet;
        item.append(link, button, snippet);
        list.appendChild(item);
      });
      box.hidden = results.length === 0;
    };
    const ask = () => {
      const query = fields.map((f) => f.value).join(" ").trim().slice(0, 500);
      if (query === asked) return;
      asked = query;
      if (query.length < 4) { show([], query); return; }
      fetch("/help/suggest?lang=" + encodeURIComponent(box.dataset.lang) + "&q=" + encodeURIComponent(query),
        { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : { results: [] }))
        .then((data) => { if (query === asked) show(data.results, query); });
    };
    fields.forEach((field) => field.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(ask, 350);
    }));
    ask();
  }
})();
