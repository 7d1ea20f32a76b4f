/* Zabota web chat widget. Embed with one tag:
 *   <script src="https://support.example.com/static/widget.js" data-zabota-team="shop" async></script>
 * Options (data-*): zabota-team (chat account or team id), lang (ru|en; default: the page's
 * lang), name, email (a signed-in customer). No framework; the UI lives in a shadow root.
 * Each message gets an id here; it is kept in localStorage and re-sent until the server
 * acknowledges it, so nothing is lost across reconnects and nothing is stored twice. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__zabotaChat) return;
  window.__zabotaChat = true;
  var base = new URL(script.src, location.href).origin;
  var opt = script.dataset;
  var lang = ((opt.lang || document.documentElement.lang || "ru").slice(0, 2).toLowerCase() === "en") ? "en" : "ru";
  var FALLBACK = {
    ru: { title: "Чат поддержки", connecting: "Подключаемся…", reconnecting: "Нет связи, переподключаемся…", open: "Открыть чат" },
    en: { title: "Support chat", connecting: "Connecting…", reconnecting: "No connection, reconnecting…", open: "Open the chat" }
  }[lang];
  var S = {};
  var t = function (key) { return S[key] || FALLBACK[key] || ""; };
  var KEY = "zabota-chat:";
  var store = {
    get: function (k, d) { try { var v = localStorage.getItem(KEY + k); return v === null ? d : JSON.parse(v); } catch (e) { return d; } },
    set: function (k, v) { try { localStorage.setItem(KEY + k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  };
  var token = store.get("token", null) || cookie();
  var last = 0; // the newest message shown on this page: a reconnect asks for what came after
  var outbox = store.get("outbox", []);
  var email = opt.email || store.get("email", null);
  var shown = {};
  var limits = { max_file_bytes: 25 << 20, max_files: 5 };
  var ws = null, ready = false, fatal = false, attempts = 0, retryTimer = 0, typingAt = 0, idle = 0, pending = [];

  function cookie() {
    var m = document.cookie.match(/(?:^|; )zabota_chat=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }
  function keepToken(value) {
    token = value;
    store.set("token", value);
    document.cookie = "zabota_chat=" + encodeURIComponent(value) + "; path=/; max-age=31536000; samesite=lax";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  var host = el("div");
  host.id = "zabota-chat";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML = "<style>" +
    ":host{all:initial;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2330}" +
    ".launch{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:#1f6feb;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646}" +
    ".launch svg{width:28px;height:28px;fill:currentColor}" +
    ".panel{position:fixed;right:20px;bottom:88px;width:340px;max-width:calc(100vw - 24px);height:480px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483647}" +
    ".panel[hidden]{display:none}" +
    ".head{background:#1f6feb;color:#fff;padding:10px 12px;display:flex;align-items:center;gap:8px}.head b{flex:1}" +
    ".x{background:none;border:0;color:#fff;font-size:20px;cursor:pointer}" +
    ".note{padding:6px 12px;background:#f6f7f9;color:#5b6475;font-size:13px}.note:empty{display:none}" +
    ".log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px;background:#fafbfc}" +
    ".m{max-width:80%;padding:7px 10px;border-radius:12px;background:#fff;border:1px solid #dde1e8;white-space:pre-wrap;overflow-wrap:anywhere;align-self:flex-start}" +
    ".m.visitor{align-self:flex-end;background:#1f6feb;color:#fff;border-color:#1f6feb}.m.visitor a{color:#fff}" +
    ".m.sending{opacity:.6}.m.failed{background:#fdecea;color:#b42318;border-color:#f5c2c0}" +
    ".m small{display:block;font-size:11px;opacity:.75}.sys{align-self:center;color:#5b6475;font-size:12px}" +
    ".typing{padding:0 12px 4px;color:#5b6475;font-style:italic;font-size:12px;min-height:16px}" +
    ".mail{display:flex;gap:6px;padding:6px 10px;border-top:1px solid #eef1f5;flex-wrap:wrap}.mail label{width:100%;font-size:12px;color:#5b6475}" +
    ".mail input{flex:1;min-width:0}.mail[hidden]{display:none}" +
    ".files{padding:0 10px;font-size:12px;color:#5b6475}" +
    ".row{display:flex;gap:6px;padding:8px 10px;border-top:1px solid #dde1e8;align-items:flex-end}" +
    "textarea{flex:1;resize:none;height:40px;max-height:120px}" +
    "input,textarea,button{font:inherit;padding:7px 9px;border:1px solid #dde1e8;border-radius:8px}" +
    ".send{background:#1f6feb;color:#fff;border-color:#1f6feb;cursor:pointer}.attach{cursor:pointer;padding:8px 4px;color:#5b6475}.attach svg{width:22px;height:22px;fill:currentColor}" +
    ":focus-visible{outline:3px solid #ffbf47}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "</style>" +
    "<button class='launch' type='button' aria-expanded='false'><svg viewBox='0 0 24 24' aria-hidden='true'><path d='M4 4h16v12H7l-3 3z'/></svg></button>" +
    "<section class='panel' role='dialog' hidden><div class='head'><b></b><button class='x' type='button'>×</button></div>" +
    "<div class='note' role='status'></div><div class='log' aria-live='polite'></div><div class='typing'></div>" +
    "<form class='mail' hidden><label></label><input type='email' required autocomplete='email'><button type='submit'></button></form>" +
    "<div class='files'></div>" +
    "<form class='row'><label class='attach'><span class='sr'></span><svg viewBox='0 0 24 24' aria-hidden='true'><path d='M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z'/></svg><input type='file' multiple hidden></label>" +
    "<textarea rows='1'></textarea><button class='send' type='submit'></button></form></section>";
  var $ = function (s) { return root.querySelector(s); };
  var launch = $(".launch"), panel = $(".panel"), log = $(".log"), note = $(".note"), typing = $(".typing");
  var mail = $(".mail"), input = $(".row textarea"), fileInput = $(".row input"), fileList = $(".files");
  launch.setAttribute("aria-label", FALLBACK.open);
  $(".head b").textContent = FALLBACK.title;
  note.textContent = FALLBACK.connecting;

  function label() {
    $(".head b").textContent = t("title");
    $(".x").setAttribute("aria-label", t("close"));
    $(".mail label").textContent = t("email_prompt");
    $(".mail input").placeholder = t("email_placeholder");
    $(".mail button").textContent = t("email_save");
    $(".attach .sr").textContent = t("attach");
    input.placeholder = t("placeholder");
    input.setAttribute("aria-label", t("placeholder"));
    $(".send").textContent = t("send");
  }
  function toggle(open) {
    panel.hidden = !open;
    launch.setAttribute("aria-expanded", String(open));
    store.set("open", open);
    if (open) { input.focus(); log.scrollTop = log.scrollHeight; }
  }
  launch.onclick = function () { toggle(panel.hidden); };
  $(".x").onclick = function () { toggle(false); launch.focus(); };

  function system(text) { log.appendChild(el("div", "sys", text)); log.scrollTop = log.scrollHeight; }
  function render(m, pendingId) {
    var ref = pendingId || m.client_id;
    var node = ref && log.querySelector('[data-pending="' + ref + '"]');
    if (m.id && shown[m.id]) { if (node) node.remove(); return; }
    if (!node) {
      node = el("div", "m " + m.author);
      if (m.author !== "visitor") node.appendChild(el("small", "", m.name || t("agent")));
      node.appendChild(document.createTextNode(m.text || ""));
      (m.files || []).forEach(function (f) {
        var a = el("a", "", f.name);
        a.href = f.url.charAt(0) === "/" ? base + f.url : f.url;
        a.target = "_blank";
        a.rel = "noopener";
        node.appendChild(el("br"));
        node.appendChild(a);
      });
      log.appendChild(node);
    }
    node.className = "m " + m.author;
    node.removeAttribute("data-pending");
    if (m.id) {
      shown[m.id] = true;
      if (m.id > last) last = m.id;
    }
    if (m.author !== "visitor") typing.textContent = "";
    log.scrollTop = log.scrollHeight;
  }
  function renderPending(item) {
    var node = el("div", "m visitor sending", item.text);
    node.setAttribute("data-pending", item.id);
    item.names.forEach(function (n) { node.appendChild(el("br")); node.appendChild(document.createTextNode(n)); });
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }
  function fail(id, message) {
    outbox = outbox.filter(function (m) { return m.id !== id; });
    store.set("outbox", outbox);
    var node = log.querySelector('[data-pending="' + id + '"]');
    if (node) { node.className = "m visitor failed"; node.appendChild(el("small", "", t("failed") + ": " + message)); }
  }
  function frame(data) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(data)); }
  function flush() {
    if (!ready) return;
    outbox.forEach(function (m) { frame({ type: "message", id: m.id, text: m.text, files: m.files }); });
    clearTimeout(retryTimer);
    if (outbox.length) retryTimer = setTimeout(flush, 10000); // no ack yet: send again
  }
  function newId() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function connect() {
    ws = new WebSocket(base.replace(/^http/, "ws") + "/chat/ws");
    ws.onopen = function () {
      attempts = 0;
      frame({ type: "hello", token: token, team: opt.zabotaTeam || "", lang: lang, after: last,
        email: email || undefined, name: opt.name || undefined, page: location.href.slice(0, 2000) });
    };
    ws.onmessage = function (e) { handle(JSON.parse(e.data)); };
    ws.onclose = function () {
      ready = false;
      if (fatal) return;
      note.textContent = t("reconnecting");
      setTimeout(connect, Math.min(30000, 500 * Math.pow(2, attempts++)) * (0.5 + Math.random()));
    };
  }
  function status(online) {
    mail.hidden = !!email;
    note.textContent = online ? t("online") : email ? t("email_saved").replace("{email}", email) : t("offline");
  }
  function handle(f) {
    if (f.type === "welcome") {
      S = f.strings || {};
      limits = f.limits || limits;
      label();
      keepToken(f.token);
      ready = true;
      (f.messages || []).forEach(function (m) { render(m); });
      if (f.agent) system(t("joined").replace("{name}", f.agent));
      status(f.agents_online);
      flush();
    } else if (f.type === "ack") {
      outbox = outbox.filter(function (m) { return m.id !== f.id; });
      store.set("outbox", outbox);
      render(f.message, f.id);
      if (!outbox.length) clearTimeout(retryTimer);
    } else if (f.type === "message") {
      render(f.message);
    } else if (f.type === "history") {
      f.messages.forEach(function (m) { render(m); });
    } else if (f.type === "typing") {
      typing.textContent = f.on ? t("typing").replace("{name}", f.name || t("agent")) : "";
      clearTimeout(typing._t);
      if (f.on) typing._t = setTimeout(function () { typing.textContent = ""; }, 8000);
    } else if (f.type === "status") {
      if (f.agent) { system(t("joined").replace("{name}", f.agent)); status(true); }
      if (f.finished) system(t("finished"));
    } else if (f.type === "pong") {
      status(f.agents_online);
    } else if (f.type === "email_saved") {
      email = f.email;
      store.set("email", email);
      mail.hidden = true;
      note.textContent = t("email_saved").replace("{email}", email);
    } else if (f.type === "error") {
      if (f.fatal) { fatal = true; note.textContent = f.message; return; }
      if (f.id && f.retry) {
        clearTimeout(retryTimer);
        retryTimer = setTimeout(flush, 1000 * (f.retry_after || 5));
      } else if (f.id) {
        fail(f.id, f.message);
      } else {
        note.textContent = f.message;
      }
    }
  }

  function upload(file) {
    if (file.size > limits.max_file_bytes) {
      system(t("file_too_large").replace("{limit}", Math.floor(limits.max_file_bytes / 1048576)));
      return;
    }
    var body = new FormData();
    body.append("token", token || "");
    body.append("lang", lang);
    body.append("file", file);
    fetch(base + "/chat/upload", { method: "POST", body: body }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) { system(file.name + ": " + (b.detail || b.title)); return; }
        pending.push({ token: b.upload, name: b.name });
        fileList.textContent = pending.map(function (p) { return p.name; }).join(", ");
      });
    }).catch(function () { system(file.name + ": " + t("failed")); });
  }
  fileInput.onchange = function () {
    Array.prototype.slice.call(fileInput.files, 0, limits.max_files).forEach(upload);
    fileInput.value = "";
  };
  $(".row").onsubmit = function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text && !pending.length) return;
    var item = { id: newId(), text: text, files: pending.map(function (p) { return p.token; }),
      names: pending.map(function (p) { return p.name; }) };
    outbox.push(item);
    store.set("outbox", outbox);
    renderPending(item);
    input.value = "";
    pending = [];
    fileList.textContent = "";
    frame({ type: "typing", on: false });
    typingAt = 0;
    flush();
  };
  input.onkeydown = function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $(".row").requestSubmit(); }
  };
  input.oninput = function () {
    if (Date.now() - typingAt > 3000) { typingAt = Date.now(); frame({ type: "typing", on: true }); }
    clearTimeout(idle);
    idle = setTimeout(function () { typingAt = 0; frame({ type: "typing", on: false }); }, 4000);
  };
  mail.onsubmit = function (e) {
    e.preventDefault();
    frame({ type: "email", email: $(".mail input").value.trim() });
  };

  (document.body || document.documentElement).appendChild(host);
  outbox.forEach(renderPending);
  if (store.get("open", false)) toggle(true);
  setInterval(function () { frame({ type: "ping" }); }, 25000);
  connect();
})();
