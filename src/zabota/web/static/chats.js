// The agents' chats page: a WebSocket brings waiting-list changes and the visitors' messages,
// typing and presence; accepting, answering and finishing go over fetch (the forms also work
// without JavaScript).
(function () {
  "use strict";
  const root = document.querySelector("[data-chats]");
  if (!root) return;
  const panels = document.getElementById("panels");
  const status = document.getElementById("chats-status");
  const fetchHeaders = { "X-Requested-With": "fetch" };
  let socket = null;
  let attempts = 0;
  let waitingTimer = 0;

  const panelOf = (ticket) => panels.querySelector('.chat-panel[data-ticket="' + ticket + '"]');
  const ticketsOpen = () => Array.from(panels.querySelectorAll(".chat-panel")).map((p) => Number(p.dataset.ticket));
  const send = (frame) => { if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame)); };

  function connect() {
    socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/agent/chats/live");
    socket.onopen = () => {
      attempts = 0;
      status.textContent = "";
      const open = ticketsOpen();
      if (open.length) send({ type: "watch", tickets: open });
      refreshWaiting();
    };
    socket.onmessage = (event) => handle(JSON.parse(event.data));
    socket.onclose = () => {
      status.textContent = root.dataset.disconnected;
      const delay = Math.min(30000, 500 * 2 ** attempts++) * (0.5 + Math.random());
      setTimeout(connect, delay);
    };
  }

  function handle(frame) {
    if (frame.type === "desk") {
      clearTimeout(waitingTimer);
      waitingTimer = setTimeout(refreshWaiting, 250);
    } else if (frame.type === "message") {
      const panel = panelOf(frame.ticket);
      if (panel) { addMessage(panel, frame.message); showTyping(panel, false); }
    } else if (frame.type === "typing") {
      const panel = panelOf(frame.ticket);
      if (panel) showTyping(panel, frame.on);
    } else if (frame.type === "presence") {
      const panel = panelOf(frame.ticket);
      if (panel) setOnline(panel, frame.online);
    } else if (frame.type === "watching") {
      Object.keys(frame.online).forEach((ticket) => {
        const panel = panelOf(ticket);
        if (panel) setOnline(panel, frame.online[ticket]);
      });
    }
  }

  function refreshWaiting() {
    fetch("/agent/chats/waiting", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => {
        if (html === null) return;
        document.getElementById("waiting").innerHTML = html;
        tick();
        // Chats given to this agent elsewhere (routing, a colleague, the ticket page) open here.
        const mine = document.querySelector("#waiting [data-mine]");
        (mine && mine.dataset.mine ? mine.dataset.mine.split(",") : []).forEach((id) => {
          if (!panelOf(id)) openPanel(Number(id));
        });
      });
  }

  function openPanel(ticket) {
    fetch("/agent/chats/" + ticket + "/panel", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => { if (html !== null && !panelOf(ticket)) showPanel(ticket, html); });
  }

  function showPanel(ticket, html) {
    panels.insertAdjacentHTML("afterbegin", html);
    wire(panelOf(ticket));
    send({ type: "watch", tickets: [ticket] });
    panels.querySelector(".no-chats").hidden = true;
  }

  function setOnline(panel, online) {
    const badge = panel.querySelector(".visitor-state");
    badge.dataset.state = online ? "online" : "offline";
    badge.textContent = online ? root.dataset.online : root.dataset.offline;
  }

  function showTyping(panel, on) {
    const line = panel.querySelector(".chat-typing");
    line.textContent = root.dataset.typing;
    line.hidden = !on;
    clearTimeout(line._timer);
    if (on) line._timer = setTimeout(() => { line.hidden = true; }, 8000);
  }

  function addMessage(panel, message) {
    const log = panel.querySelector(".chat-log");
    if (log.querySelector('[data-id="' + message.id + '"]')) return;
    const item = document.createElement("li");
    item.className = "cmsg " + message.author;
    item.dataset.id = message.id;
    const who = document.createElement("span");
    who.className = "cwho";
    who.textContent = message.name;
    const time = document.createElement("time");
    time.textContent = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit",
      hour12: false, timeZone: root.dataset.tz || undefined });
    const text = document.createElement("div");
    text.className = "ctext";
    text.textContent = message.text;
    item.append(who, " ", time, text);
    if (message.files && message.files.length) {
      const files = document.createElement("ul");
      files.className = "plain cfiles";
      message.files.forEach((f) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = f.url;
        a.textContent = f.name;
        li.append(a);
        files.append(li);
      });
      item.append(files);
    }
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function post(form) {
    return fetch(form.action, { method: "POST", body: new FormData(form), headers: fetchHeaders,
      credentials: "same-origin" }).then((r) => r.json().then((body) => ({ ok: r.ok, body: body })));
  }

  function showError(panel, body) {
    const box = panel && panel.querySelector(".chat-error");
    if (!box) return;
    box.textContent = root.dataset.failed.replace("{reason}", (body && (body.detail || body.title)) || "");
    box.hidden = false;
  }

  function wire(panel) {
    const log = panel.querySelector(".chat-log");
    log.scrollTop = log.scrollHeight;
    const text = panel.querySelector("textarea");
    let typingAt = 0;
    let idle = 0;
    text.addEventListener("input", () => {
      const ticket = Number(panel.dataset.ticket);
      if (Date.now() - typingAt > 2000) { typingAt = Date.now(); send({ type: "typing", ticket: ticket, on: true }); }
      clearTimeout(idle);
      idle = setTimeout(() => { typingAt = 0; send({ type: "typing", ticket: ticket, on: false }); }, 4000);
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey) {
        event.preventDefault();
        panel.querySelector(".chat-form").requestSubmit();
      }
    });
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.classList.contains("accept-form")) {
      event.preventDefault();
      post(form).then((res) => {
        if (!res.ok) { status.textContent = res.body.detail || res.body.title; refreshWaiting(); return; }
        if (!panelOf(res.body.ticket)) showPanel(res.body.ticket, res.body.panel);
        panelOf(res.body.ticket).querySelector("textarea").focus();
        refreshWaiting();
      });
    } else if (form.classList.contains("chat-form")) {
      event.preventDefault();
      const panel = form.closest(".chat-panel");
      const text = form.querySelector("textarea");
      if (!text.value.trim() && !form.querySelector("input[type=file]").files.length) return;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      post(form).then((res) => {
        button.disabled = false;
        if (!res.ok) { showError(panel, res.body); return; }
        form.querySelector(".chat-error").hidden = true;
        addMessage(panel, res.body.message);
        text.value = "";
        form.querySelector("input[type=file]").value = "";
        send({ type: "typing", ticket: Number(panel.dataset.ticket), on: false });
      }).catch(() => { button.disabled = false; showError(panel, null); });
    } else if (form.classList.contains("finish-form")) {
      event.preventDefault();
      const panel = form.closest(".chat-panel");
      post(form).then((res) => {
        if (!res.ok) { showError(panel, res.body); return; }
        send({ type: "unwatch", tickets: [Number(panel.dataset.ticket)] });
        panel.remove();
        panels.querySelector(".no-chats").hidden = panels.querySelector(".chat-panel") !== null;
      });
    }
  });

  // How long each visitor has been waiting, counted live.
  function tick() {
    document.querySelectorAll(".waited[data-since]").forEach((el) => {
      const seconds = Math.max(0, Math.round((Date.now() - Date.parse(el.dataset.since)) / 1000));
      const minutes = Math.floor(seconds / 60);
      el.textContent = (minutes >= 60 ? Math.floor(minutes / 60) + ":" + String(minutes % 60).padStart(2, "0") : minutes)
        + ":" + String(seconds % 60).padStart(2, "0");
    });
  }

  panels.querySelectorAll(".chat-panel").forEach(wire);
  tick();
  setInterval(tick, 1000);
  setInterval(() => send({ type: "ping" }), 25000);
  connect();
})();
