"use strict";
// The operations console: the graph from /topology, laid out left to right by topological
// depth; live state from the /events stream (operator states and rates, edge fill and each
// edge's event-time watermark lag); pause and resume through the control endpoints.
// Everything the server sends is written with textContent, never parsed as HTML.
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const STATES = ["running", "paused", "stalled", "restarting", "pending", "finished", "failed", "aborted"];
  const MAX_LOG = 300;
  // A watermark at the end of time (i64::MAX microseconds): the edge never holds event time back.
  const END_OF_TIME = 9.2e18;
  const $ = (id) => document.getElementById(id);
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  const view = {
    nodes: new Map(), // name -> { group, rect, name, stats, title, row, data }
    edges: [], // in declaration order: { path, fill, mark, title, data, rates } (labels' tspans)
    selected: null,
    throttle: false,
    compact: false,
    snapshot: null,
  };

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function rate(n) {
    if (!Number.isFinite(n) || n <= 0) return "0";
    if (n >= 10000) return (n / 1000).toFixed(0) + "k";
    if (n >= 1000) return (n / 1000).toFixed(1) + "k";
    return n >= 10 ? n.toFixed(0) : n.toFixed(1);
  }

  function duration(seconds) {
    if (!seconds) return "–";
    if (seconds < 60) return seconds.toFixed(0) + " s";
    if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  // A time span of any size, to one decimal: seconds up to years.
  function span(seconds) {
    const units = [[365.25 * 86400, "y"], [86400, "d"], [3600, "h"], [60, "min"]];
    for (const [size, unit] of units) if (seconds >= size) return (seconds / size).toFixed(1) + " " + unit;
    return seconds.toFixed(1) + " s";
  }

  // An edge's event-time watermark, short enough for its label: how far it is behind the wall
  // clock, "no watermark" before the first (or in a graph that does not use event time).
  function watermark(edge) {
    const micros = edge.watermark_unix_micros;
    if (micros === null || micros === undefined) return "no watermark";
    const lag = edge.watermark_lag_seconds;
    return micros >= END_OF_TIME ? "wm ∞" : lag < 0 ? `wm ahead ${span(-lag)}` : `wm lag ${span(lag)}`;
  }

  // The same, spelt out for a tooltip.
  function watermarkLong(edge) {
    const micros = edge.watermark_unix_micros;
    if (micros === null || micros === undefined) return "no event-time watermark yet";
    const idle = edge.idle ? " (idle: left out of its consumer's watermark)" : "";
    if (micros >= END_OF_TIME) return `watermark at the end of time: it never holds event time back${idle}`;
    const lag = edge.watermark_lag_seconds;
    const date = new Date(micros / 1000);
    const at = Number.isNaN(date.getTime()) ? `${micros} µs after the Unix epoch` : date.toISOString();
    const behind = lag < 0 ? `${span(-lag)} ahead of` : `${span(lag)} behind`;
    return `watermark ${at}, ${behind} the wall clock${idle}`;
  }

  function shorten(text, max) {
    return text.length <= max ? text : text.slice(0, max - 1) + "…";
  }

  // Sets `node`'s text to `text`, cut with an ellipsis until it is at most `width` wide.
  function fitText(node, text, width) {
    node.textContent = text;
    let keep = text.length;
    while (keep > 1 && node.getComputedTextLength() > width) {
      keep -= 1;
      node.textContent = shorten(text, keep);
    }
  }

  function stateColor(state) {
    return css("--" + (STATES.includes(state) ? state : "pending"));
  }

  // Green when empty, amber at half, red when full.
  function fillColor(fill) {
    const f = Math.max(0, Math.min(1, fill));
    const hue = 140 - 140 * f;
    return `hsl(${hue.toFixed(0)}, 65%, ${f === 0 ? 70 : 45}%)`;
  }

  function message(text) {
    $("message").textContent = text;
  }

  // Layers: a vertex's column is the length of the longest path to it from a vertex with no
  // incoming edge; within a column, vertices are ordered by the mean row of their upstream
  // vertices (one barycentre pass), which keeps most edges from crossing.
  function layout(topology) {
    const names = topology.vertices.map((v) => v.name);
    const index = new Map(names.map((n, i) => [n, i]));
    const incoming = names.map(() => []);
    const outgoing = names.map(() => []);
    for (const e of topology.edges) {
      const from = index.get(e.from);
      const to = index.get(e.to);
      if (from === undefined || to === undefined) continue;
      outgoing[from].push(to);
      incoming[to].push(from);
    }
    const depth = names.map(() => 0);
    const indegree = incoming.map((list) => list.length);
    const queue = names.map((_, i) => i).filter((i) => indegree[i] === 0);
    for (let head = 0; head < queue.length; head++) {
      const v = queue[head];
      for (const w of outgoing[v]) {
        depth[w] = Math.max(depth[w], depth[v] + 1);
        if (--indegree[w] === 0) queue.push(w);
      }
    }
    const columns = [];
    names.forEach((_, i) => (columns[depth[i]] = columns[depth[i]] || []).push(i));
    const row = new Map();
    columns.forEach((column, c) => {
      if (c > 0) {
        const centre = (v) => {
          const ups = incoming[v].filter((u) => row.has(u));
          return ups.length ? ups.reduce((s, u) => s + row.get(u), 0) / ups.length : Infinity;
        };
        column.sort((a, b) => centre(a) - centre(b) || a - b);
      }
      column.forEach((v, r) => row.set(v, r / Math.max(1, column.length - 1)));
    });
    return { columns, depth };
  }

  function draw(topology) {
    const graph = $("graph");
    graph.replaceChildren();
    view.nodes.clear();
    view.edges = [];
    const { columns } = layout(topology);
    const tallest = Math.max(1, ...columns.map((c) => c.length));
    view.compact = tallest > 10 || topology.vertices.length > 40;
    const w = view.compact ? 140 : 148;
    const h = view.compact ? 26 : 44;
    const gapY = view.compact ? 8 : 16;
    const labelled = topology.edges.length <= 60;
    // Room between the columns for a label's two lines.
    const gapX = labelled ? 84 : view.compact ? 56 : 60;
    const height = tallest * (h + gapY) + gapY;
    const width = columns.length * (w + gapX) - gapX + 40;
    graph.setAttribute("viewBox", `0 0 ${width} ${height}`);
    view.size = { width, height };
    fit();
    const position = new Map();
    columns.forEach((column, c) => {
      const top = (height - column.length * (h + gapY) + gapY) / 2;
      column.forEach((v, r) => position.set(v, { x: 20 + c * (w + gapX), y: top + r * (h + gapY) }));
    });
    const index = new Map(topology.vertices.map((v, i) => [v.name, i]));
    const edgeLayer = svg("g", { class: "edges" }, graph);
    const nodeLayer = svg("g", { class: "nodes" }, graph);
    const fanIn = new Map();
    const fanOut = new Map();
    for (const e of topology.edges) {
      fanIn.set(e.to, (fanIn.get(e.to) || 0) + 1);
      fanOut.set(e.from, (fanOut.get(e.from) || 0) + 1);
    }
    for (const e of topology.edges) {
      const a = position.get(index.get(e.from));
      const b = position.get(index.get(e.to));
      const group = svg("g", { class: "edge", "data-edge": `${e.from}->${e.to}` }, edgeLayer);
      const title = svg("title", {}, group);
      title.textContent = `${e.from} → ${e.to}`;
      let path = null;
      let fill = null;
      let mark = null;
      if (a && b) {
        const x1 = a.x + w, y1 = a.y + h / 2, x2 = b.x, y2 = b.y + h / 2;
        const bend = Math.max(30, (x2 - x1) / 2);
        path = svg("path", {
          d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
          stroke: fillColor(0),
          "stroke-width": 1.5,
          "stroke-dasharray": e.kind === "broadcast" ? "5 4" : "none",
        }, group);
        if (labelled) {
          // Where the edges of a fan spread out: near the source of a fan-in, near the target
          // of a fan-out.
          const into = fanIn.get(e.to) > 1;
          const outOf = fanOut.get(e.from) > 1;
          const [lx, ly, anchor] = into && !outOf ? [x1 + 4, y1 - 4, "start"]
            : outOf && !into ? [x2 - 4, y2 - 4, "end"]
            : [(x1 + x2) / 2, (y1 + y2) / 2 - 4, "middle"];
          // Two lines above the edge: its fill, then its watermark.
          const label = svg("text", { x: lx, y: ly - 13, "text-anchor": anchor }, group);
          fill = svg("tspan", { class: "fill" }, label);
          mark = svg("tspan", { class: "wm", x: lx, dy: 13 }, label);
          fill.textContent = `0/${e.capacity}`;
          mark.textContent = "no watermark";
        }
      }
      view.edges.push({ path, fill, mark, title, data: e, rates: null });
    }
    for (const v of topology.vertices) {
      const p = position.get(index.get(v.name));
      const group = svg("g", {
        class: "node",
        "data-name": v.name,
        "data-role": v.role,
        "data-state": "pending",
        transform: `translate(${p.x},${p.y})`,
        tabindex: "0",
      }, nodeLayer);
      const title = svg("title", {}, group);
      title.textContent = `${v.name} (${v.role})`;
      const rect = svg("rect", { width: w, height: h, rx: v.role === "operator" ? 4 : 13, fill: stateColor("pending") }, group);
      const name = svg("text", { class: "name", x: 10, y: view.compact ? 17 : 18 }, group);
      fitText(name, v.name, w - 16);
      const stats = view.compact ? null : svg("text", { class: "stats", x: 10, y: 35 }, group);
      if (stats) stats.textContent = v.role;
      if (stats) fitText(stats, v.role, w - 16);
      group.addEventListener("click", () => select(v.name));
      group.addEventListener("keydown", (event) => { if (event.key === "Enter") select(v.name); });
      view.nodes.set(v.name, { group, rect, name, stats, title, row: null, data: { ...v, state: "pending" } });
    }
  }

  // The graph at its natural size, or shrunk to the pane when that keeps it readable (down to
  // 70%); larger graphs scroll.
  function fit() {
    const graph = $("graph");
    if (!view.size) return;
    const room = ($("graph-scroll").clientWidth || view.size.width) - 4;
    const scale = Math.min(1, room / view.size.width);
    const use = scale >= 0.7 ? scale : 1;
    graph.setAttribute("width", Math.floor(view.size.width * use));
    graph.setAttribute("height", Math.floor(view.size.height * use));
  }

  function table(topology) {
    const body = $("operators").querySelector("tbody");
    body.replaceChildren();
    for (const v of topology.vertices) {
      const row = html("tr", { "data-name": v.name });
      row.append(html("td", {}, v.name), html("td", {}, v.role));
      const state = html("td", {});
      state.append(html("span", { class: "state", "data-state": "pending" }, "pending"));
      row.append(state, html("td", { class: "num" }, "0"), html("td", { class: "num" }, "0"),
        html("td", { class: "num" }, "0"), html("td", { class: "num" }, "–"));
      const actions = html("td", {});
      if (v.role === "source") actions.append(...controlButtons(v.name));
      row.append(actions);
      row.addEventListener("click", (event) => { if (event.target.tagName !== "BUTTON") select(v.name); });
      body.append(row);
      view.nodes.get(v.name).row = row;
    }
  }

  function controlButtons(name) {
    const pause = html("button", { type: "button", class: "pause", "data-action": "pause", "data-operator": name }, "pause");
    const resume = html("button", { type: "button", "data-action": "resume", "data-operator": name }, "resume");
    pause.addEventListener("click", () => control("pause", name));
    resume.addEventListener("click", () => control("resume", name));
    return [pause, resume];
  }

  function legend() {
    const box = $("legend");
    box.replaceChildren();
    for (const state of STATES) {
      const item = html("span", {});
      const swatch = html("i", {});
      swatch.style.background = stateColor(state);
      item.append(swatch, document.createTextNode(state));
      box.append(item);
    }
    for (const [fill, text] of [[0, "edge empty"], [0.5, "half full"], [1, "full"]]) {
      const item = html("span", {});
      const swatch = html("i", {});
      swatch.style.background = fillColor(fill);
      item.append(swatch, document.createTextNode(text));
      box.append(item);
    }
  }

  // What the edges say, and where: on their labels, or (in graphs too large to label) in their
  // tooltips and the selected operator's details.
  function legendEdges(labelled) {
    const text = labelled
      ? "edge labels: queued/capacity, then wm lag (how far the edge's event-time watermark is behind the wall clock; italic: idle)"
      : "edges: hover one, or select an operator, for queued/capacity and wm lag (how far the event-time watermark is behind the wall clock)";
    $("legend").append(html("span", {}, text));
  }

  function setState(name, state) {
    const node = view.nodes.get(name);
    if (!node) return;
    node.data.state = state;
    node.group.setAttribute("data-state", state);
    node.rect.setAttribute("fill", stateColor(state));
    if (node.row) {
      const badge = node.row.querySelector(".state");
      badge.textContent = state;
      badge.setAttribute("data-state", state);
      badge.style.background = stateColor(state);
    }
  }

  function applySnapshot(snapshot) {
    view.snapshot = snapshot;
    const counts = {};
    for (const op of snapshot.operators) {
      counts[op.state] = (counts[op.state] || 0) + 1;
      const node = view.nodes.get(op.name);
      if (!node) continue;
      Object.assign(node.data, op);
      setState(op.name, op.state);
      const flow = op.role === "source" ? `out ${rate(op.out_per_second)}/s`
        : op.role === "sink" ? `in ${rate(op.in_per_second)}/s`
        : `${rate(op.in_per_second)} → ${rate(op.out_per_second)}/s`;
      const text = `↻${op.restarts} · ${flow}`;
      if (node.stats) fitText(node.stats, text, node.rect.width.baseVal.value - 16);
      node.title.textContent = `${op.name} (${op.role}): ${op.state}\n${text}\nup ${duration(op.uptime_seconds)}`;
      if (node.row) {
        const cells = node.row.children;
        cells[3].textContent = op.restarts;
        cells[4].textContent = rate(op.in_per_second);
        cells[5].textContent = rate(op.out_per_second);
        cells[6].textContent = duration(op.uptime_seconds);
      }
    }
    snapshot.edges.forEach((edge, i) => {
      const drawn = view.edges[i];
      if (!drawn) return;
      const fill = edge.capacity ? edge.depth / edge.capacity : 0;
      if (drawn.path) {
        drawn.path.setAttribute("stroke", fillColor(fill));
        drawn.path.setAttribute("stroke-width", (1.5 + 3 * Math.min(1, fill)).toFixed(1));
      }
      drawn.rates = edge;
      if (drawn.fill) drawn.fill.textContent = `${edge.depth}/${edge.capacity}`;
      if (drawn.mark) {
        drawn.mark.textContent = watermark(edge);
        drawn.mark.classList.toggle("idle", edge.idle);
      }
      drawn.title.textContent = `${edge.name}: ${edge.depth}/${edge.capacity} queued` +
        ` · blocked ${edge.blocked_seconds_per_second.toFixed(2)} s/s · dropped ${edge.dropped}` +
        `\n${watermarkLong(edge)}`;
    });
    const parts = Object.entries(counts).map(([state, n]) => `${n} ${state}`);
    $("summary").textContent = `${snapshot.operators.length} operators · ${snapshot.edges.length} edges · ${parts.join(", ")}`;
    if (view.selected) details(view.selected);
  }

  function select(name) {
    for (const [other, node] of view.nodes) {
      node.group.classList.toggle("selected", other === name);
      if (node.row) node.row.classList.toggle("selected", other === name);
    }
    view.selected = name;
    details(name);
  }

  function details(name) {
    const node = view.nodes.get(name);
    if (!node) return;
    const box = $("details");
    const op = node.data;
    const list = html("dl", {});
    const add = (key, value) => list.append(html("dt", {}, key), html("dd", {}, String(value)));
    add("name", op.name);
    add("role", op.role);
    add("state", op.state);
    add("restarts", op.restarts ?? 0);
    add("uptime", duration(op.uptime_seconds));
    add("items in", `${rate(op.in_per_second)}/s`);
    add("items out", `${rate(op.out_per_second)}/s`);
    // Its inputs, with their watermarks: what the graph's edge labels show, for graphs too
    // large to label.
    for (const edge of view.edges) {
      if (edge.data.to !== name || !edge.rates) continue;
      add(`from ${edge.data.from}`, `${edge.rates.depth}/${edge.rates.capacity} · ${watermark(edge.rates)}`);
    }
    const children = [html("h2", {}, "Operator"), list];
    if (op.role === "source") {
      const buttons = html("p", {});
      buttons.append(...controlButtons(op.name));
      children.push(buttons);
      if (view.throttle) children.push(throttleForm(op.name));
    }
    // Keep a form the user is typing in.
    if (box.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
    box.replaceChildren(...children);
  }

  function throttleForm(name) {
    const form = html("form", { class: "throttle" });
    const rateInput = html("input", { type: "number", min: "1", step: "1", placeholder: "per second", "aria-label": "items per second" });
    const burstInput = html("input", { type: "number", min: "1", step: "1", placeholder: "burst", "aria-label": "burst" });
    const set = html("button", { type: "submit" }, "throttle");
    const clear = html("button", { type: "button" }, "unthrottle");
    form.append(rateInput, burstInput, set, clear);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { per_second: Number(rateInput.value), burst: Number(burstInput.value || rateInput.value) };
      control("throttle", name, "POST", body);
    });
    clear.addEventListener("click", () => control("throttle", name, "DELETE"));
    return form;
  }

  function token() {
    let value = $("token").value.trim();
    if (!value) {
      value = (window.prompt("Control token (the server's SDA_CONTROL_TOKEN):") || "").trim();
      $("token").value = value;
    }
    return value;
  }

  async function control(action, name, method = "POST", body = undefined) {
    const secret = token();
    if (!secret) {
      message(`${action} needs the control token`);
      return;
    }
    const headers = { Authorization: `Bearer ${secret}`, "X-Actor": "console" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(`/operators/${encodeURIComponent(name)}/${action}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        if (answer.state) setState(name, answer.state);
        message(`${name}: ${action} ${answer.changed === false ? "changed nothing" : "done"}` +
          (answer.state ? `; now ${answer.state}` : ""));
      } else {
        message(`${name}: ${action} refused (${response.status}): ${answer.error || response.statusText}`);
      }
    } catch (error) {
      message(`${name}: ${action} failed: ${error}`);
    }
  }

  function log(text, kind) {
    const list = $("log");
    const item = html("li", { class: kind }, text);
    list.prepend(item);
    while (list.children.length > MAX_LOG) list.lastChild.remove();
  }

  function logEvent(event) {
    const time = new Date(event.time_unix_ms).toLocaleTimeString([], { hour12: false });
    const who = event.operator ? ` ${event.operator}` : "";
    const attempt = event.attempt ? ` (attempt ${event.attempt})` : "";
    log(`${time} #${event.id} ${event.event}${who}${attempt}: ${event.reason}`, event.severity);
  }

  function stream() {
    // `after=0` replays the events the server still holds, so the log starts with the history;
    // a reconnect resumes with Last-Event-ID, which the server prefers.
    const events = new EventSource("/events?after=0");
    const pill = $("stream");
    events.addEventListener("open", () => {
      pill.textContent = "live";
      pill.className = "pill pill-on";
    });
    events.addEventListener("error", () => {
      // The browser reconnects by itself, resuming with Last-Event-ID.
      pill.textContent = "reconnecting";
      pill.className = "pill pill-off";
    });
    events.addEventListener("snapshot", (e) => applySnapshot(JSON.parse(e.data)));
    events.addEventListener("supervisor", (e) => logEvent(JSON.parse(e.data)));
    events.addEventListener("lagged", (e) => {
      const { skipped } = JSON.parse(e.data);
      log(`missed ${skipped} event(s): the console fell behind`, "lagged");
    });
  }

  async function start() {
    legend();
    try {
      const topology = await (await fetch("/topology")).json();
      $("fingerprint").textContent = topology.fingerprint || "–";
      draw(topology);
      legendEdges(view.edges.some((e) => e.mark));
      table(topology);
      $("summary").textContent = `${topology.vertices.length} operators · ${topology.edges.length} edges`;
      document.body.setAttribute("data-vertices", String(topology.vertices.length));
    } catch (error) {
      $("summary").textContent = `cannot read the topology: ${error}`;
      return;
    }
    try {
      const document_ = await (await fetch("/openapi.json")).json();
      view.throttle = Boolean(document_.paths && document_.paths["/operators/{name}/throttle"]);
    } catch (_) {
      view.throttle = false;
    }
    stream();
  }

  // Refit when the pane changes width (a window resize, or the page's scrollbar appearing).
  new ResizeObserver(() => fit()).observe($("graph-scroll"));
  start();
})();
