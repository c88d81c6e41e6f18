// Kumo console: the live parts. One WebSocket per page (/console/live)
// behind which the server runs an MQTT client for this tab; pages mark what
// they want live with ids and data attributes. No framework, no build step.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  /** Build an element: el("li", {class: "x"}, "text", child). */
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === false || v == null) continue;
      if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  /** MQTT topic matching, as the broker does for non-$ filters. */
  function matches(filter, topic) {
    const f = filter.split("/"), t = topic.split("/");
    if (topic.startsWith("$") && (f[0] === "#" || f[0] === "+")) return false;
    for (let i = 0; i < f.length; i++) {
      if (f[i] === "#") return true;
      if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
    }
    return f.length === t.length;
  }

  function pretty(text) {
    try {
      const v = JSON.parse(text);
      if (v !== null && typeof v === "object") return [JSON.stringify(v, null, 2), true];
    } catch (_) { /* not JSON */ }
    return [text, false];
  }

  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false }) +
    "." + String(ms % 1000).padStart(3, "0");

  /** The page's live connection: reconnects, and subscribes again. */
  class Live {
    constructor() {
      this.handlers = [];
      this.subs = new Map();
      this.queue = [];
      this.ready = false;
      this.open();
    }
    open() {
      const ws = new WebSocket(`wss://${location.host}/console/live`);
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "ready") {
          this.ready = true;
          this.clientId = m.clientId;
          for (const [filter, qos] of this.subs) ws.send(JSON.stringify({ op: "subscribe", filter, qos }));
          for (const q of this.queue.splice(0)) ws.send(q);
        }
        for (const h of this.handlers) h(m);
      };
      ws.onclose = () => {
        this.ready = false;
        for (const h of this.handlers) h({ type: "closed" });
        setTimeout(() => this.open(), 2000);
      };
      this.ws = ws;
    }
    on(h) { this.handlers.push(h); }
    send(obj) {
      const text = JSON.stringify(obj);
      if (this.ready) this.ws.send(text); else this.queue.push(text);
    }
    subscribe(filter, qos = 0) {
      this.subs.set(filter, qos);
      if (this.ready) this.send({ op: "subscribe", filter, qos });
    }
    unsubscribe(filter) {
      this.subs.delete(filter);
      this.send({ op: "unsubscribe", filter });
    }
    publish(topic, payload, qos, retain) { this.send({ op: "publish", topic, payload, qos, retain }); }
  }

  let live = null;
  const connect = () => (live = live || new Live());

  /** Which of these certificates' devices are connected now. */
  async function clientsOf(certs) {
    const r = await fetch(`/console/status?certificates=${encodeURIComponent(certs.join(","))}`);
    return r.ok ? (await r.json()).clients : [];
  }

  // --- MQTT test client -------------------------------------------------
  function testClient(root) {
    const l = connect();
    const list = $("#messages", root), status = $("#live-status", root);
    const subsList = $("#subscriptions", root), note = $("#pub-note", root);
    const kept = [];
    let paused = false, held = [];
    const MAX = 500;

    function show(m) {
      const [body, json] = m.binary ? [m.payload, false] : pretty(m.payload);
      const card = el("article", { class: "msg" },
        el("header", {},
          el("code", { class: "topic" }, m.topic),
          el("span", { class: "meta" },
            el("time", { datetime: new Date(m.time).toISOString() }, clock(m.time)),
            ` · QoS ${m.qos}`, m.retain ? " · retained" : "",
            m.binary ? " · binary (base64)" : json ? " · JSON" : "",
            m.client ? ` · from ${m.client}` : "")),
        el("pre", {}, body));
      if (m.properties) card.append(el("p", { class: "props" }, JSON.stringify(m.properties)));
      list.prepend(card);
      while (list.children.length > MAX) list.lastElementChild.remove();
    }

    function renderSubs() {
      subsList.replaceChildren(...[...l.subs.keys()].map((f) =>
        el("li", {}, el("code", {}, f), " ",
          Object.assign(el("button", { type: "button", class: "small", "aria-label": `Unsubscribe from ${f}` }, "Unsubscribe"),
            { onclick: () => { l.unsubscribe(f); renderSubs(); } }))));
      $("#no-subs", root).hidden = l.subs.size > 0;
    }

    l.on((m) => {
      if (m.type === "ready") {
        status.textContent = `Connected as ${m.clientId}.`;
        status.className = "live good";
      } else if (m.type === "closed") {
        status.textContent = "Connection lost; reconnecting…";
        status.className = "live bad";
      } else if (m.type === "message") {
        kept.push(m);
        if (kept.length > 5000) kept.shift();
        if (paused) {
          held.push(m);
          $("#pause", root).textContent = `Resume (${held.length} held)`;
        } else show(m);
      } else if (m.type === "subscribed") {
        if (!m.ok) {
          l.subs.delete(m.filter);
          renderSubs();
        }
        note.textContent = m.ok ? `Subscribed to ${m.filter}.` : `Subscription to ${m.filter} refused: ${m.reason}.`;
      } else if (m.type === "published") {
        note.textContent = m.ok ? `Published to ${m.topic}.` : `Publish to ${m.topic} refused: ${m.reason}.`;
      } else if (m.type === "error") {
        note.textContent = m.message;
      }
    });

    $("#sub-form", root).addEventListener("submit", (e) => {
      e.preventDefault();
      const filter = $("#filter", root).value.trim();
      if (!filter) return;
      l.subscribe(filter, Number($("#sub-qos", root).value));
      renderSubs();
    });
    $("#pub-form", root).addEventListener("submit", (e) => {
      e.preventDefault();
      l.publish($("#topic", root).value.trim(), $("#payload", root).value,
        Number($("#pub-qos", root).value), $("#retain", root).checked);
    });
    $("#pause", root).addEventListener("click", (e) => {
      paused = !paused;
      e.target.setAttribute("aria-pressed", String(paused));
      if (!paused) {
        held.forEach(show);
        held = [];
      }
      e.target.textContent = paused ? "Resume" : "Pause";
    });
    $("#clear", root).addEventListener("click", () => {
      list.replaceChildren();
      kept.length = 0;
      held = [];
    });
    $("#export", root).addEventListener("click", () => {
      const blob = new Blob([JSON.stringify(kept, null, 2)], { type: "application/json" });
      const a = el("a", { href: URL.createObjectURL(blob), download: "kumo-messages.json" });
      document.body.append(a);
      a.click();
      a.remove();
    });
    for (const f of (root.dataset.filters || "").split("\n").filter(Boolean)) l.subscribe(f, 0);
    renderSubs();
  }

  // --- Connect-a-device wizard: waiting for the device ------------------
  function waitForDevice(root) {
    const l = connect();
    const cert = root.dataset.certificate, topic = root.dataset.topic;
    const status = $("#wait-status", root), first = $("#first-messages", root);
    const presence = "$aws/events/presence/connected/+";
    let done = false;
    function connected(clientId) {
      if (done) return;
      done = true;
      root.classList.add("connected");
      document.querySelectorAll("#steps li").forEach((li, i) => {
        li.className = i < 3 ? "done" : "current";
        if (i === 3) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
      });
      status.className = "live good";
      status.textContent = `Connected! Your device is online as client ID ${clientId}.`;
      $("#first-heading", root).hidden = false;
      l.subscribe(topic, 1);
    }
    l.on((m) => {
      if (m.type === "message" && matches(presence, m.topic)) {
        try {
          const ev = JSON.parse(m.payload);
          if (ev.principalIdentifier === cert) connected(ev.clientId);
        } catch (_) { /* not an event */ }
      } else if (m.type === "message" && done && matches(topic, m.topic) && first.children.length < 5) {
        const [body] = pretty(m.payload);
        first.append(el("li", {}, el("code", {}, m.topic), " ",
          el("span", { class: "meta" }, clock(m.time)), el("pre", {}, body)));
        if (first.children.length === 1) $("#first-hint", root).hidden = false;
      } else if (m.type === "subscribed" && m.filter === presence) {
        // A device that connected before the subscription took effect.
        clientsOf([cert]).then((c) => c.length && connected(c[0]));
      }
    });
    l.subscribe(presence, 0);
  }

  // --- Shadow view: follow the document ---------------------------------
  function shadowView(root) {
    const l = connect();
    const base = `$aws/things/${root.dataset.thing}/shadow` +
      (root.dataset.name ? `/name/${root.dataset.name}` : "");
    const editor = $("#desired"), version = $("input[name=version]");
    async function refresh() {
      const url = new URL(location.href);
      url.searchParams.delete("saved");
      const r = await fetch(url);
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = $("#shadow-live", doc);
      if (!fresh) return;
      root.replaceChildren(...fresh.childNodes);
      const newVersion = $("input[name=version]", doc).value;
      if (editor.value === editor.defaultValue) {
        const text = $("#desired", doc).value;
        editor.value = editor.defaultValue = text;
        version.value = newVersion;
      } else if (newVersion !== version.value) {
        $("#shadow-changed").hidden = false;
      }
    }
    l.on((m) => {
      if (m.type === "message") refresh();
    });
    l.subscribe(`${base}/update/documents`, 0);
    l.subscribe(`${base}/delete/accepted`, 0);
  }

  // --- Overview: rates --------------------------------------------------
  function rates(root) {
    let last = null;
    async function tick() {
      try {
        const r = await fetch("/console/stats");
        if (!r.ok) return;
        const s = await r.json();
        $("[data-stat=connections]", root).textContent = s.connections;
        if (last) {
          const dt = (s.time - last.time) / 1000;
          if (dt > 0) {
            $("[data-stat=in]", root).textContent = ((s.messagesIn - last.messagesIn) / dt).toFixed(1);
            $("[data-stat=out]", root).textContent = ((s.messagesOut - last.messagesOut) / dt).toFixed(1);
          }
        }
        last = s;
      } finally {
        setTimeout(tick, 2000);
      }
    }
    tick();
  }

  // --- Thing: connection state from lifecycle events --------------------
  function connectionState(badge) {
    const l = connect();
    const certs = badge.dataset.certificates.split(" ").filter(Boolean);
    async function update() {
      const clients = await clientsOf(certs);
      badge.className = clients.length ? "badge good" : "badge";
      badge.textContent = clients.length ? `connected as ${clients.join(", ")}` : "offline";
    }
    l.on((m) => {
      if (m.type !== "message" || !m.topic.startsWith("$aws/events/presence/")) return;
      try {
        if (certs.includes(JSON.parse(m.payload).principalIdentifier)) update();
      } catch (_) { /* not an event */ }
    });
    l.subscribe("$aws/events/presence/+/+", 0);
  }

  // --- Policy editor: put the cursor on the line an error names ---------
  function errorLine(textarea) {
    const line = Number(textarea.dataset.errorLine);
    const lines = textarea.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    textarea.focus();
    textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
    const lineHeight = textarea.scrollHeight / Math.max(lines.length, 1);
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  const on = (sel, f) => document.querySelectorAll(sel).forEach(f);
  on("#test-client", testClient);
  on("#wait-device", waitForDevice);
  on("#shadow-live", shadowView);
  on("#rates", rates);
  on("[data-certificates]", connectionState);
  on("textarea[data-error-line]", errorLine);
  on("button[data-copy]", (b) => b.addEventListener("click", () => {
    navigator.clipboard.writeText($(`#${b.dataset.copy}`).textContent).then(() => {
      b.textContent = "Copied";
      setTimeout(() => (b.textContent = "Copy"), 1500);
    });
  }));
})();
