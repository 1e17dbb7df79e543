// vasim view: columns of address-space regions on a zoomable segmented axis.
// The data (one JSON object) is in <script id="vasim-data">; see simulator/plot/view.py.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("vasim-data").textContent);
  const AXIS_H = 1000;            // display units of the segmented axis (view.py AXIS_HEIGHT)
  const GUTTER = 118;             // px for the address ticks
  const WIDTH = 250;              // px for the regions
  const SVGNS = "http://www.w3.org/2000/svg";
  const num = (h) => parseInt(h, 16);
  const hex = (n) => "0x" + Math.round(n).toString(16);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

  function fmtSize(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 || n >= 100 ? n.toFixed(0) : n.toFixed(2).replace(/\.?0+$/, "")) + " " + units[i];
  }

  // -- the axis: address <-> display units, piecewise linear over the pieces ----------------
  function makeAxis(pieces) {
    const p = pieces.map((q) => ({lo: num(q.lo), hi: num(q.hi), y0: q.y0, y1: q.y1, omitted: q.omitted, text: q.text}));
    function find(key, value) {
      let a = 0, b = p.length - 1;
      while (a < b) { const m = (a + b + 1) >> 1; if (p[m][key] <= value) a = m; else b = m - 1; }
      return p[a];
    }
    return {
      pieces: p,
      d(addr) {
        if (addr <= p[0].lo) return p[0].y0;
        if (addr >= p[p.length - 1].hi) return p[p.length - 1].y1;
        const q = find("lo", addr);
        return q.y0 + (addr - q.lo) / (q.hi - q.lo) * (q.y1 - q.y0);
      },
      addr(d) {
        if (d <= 0) return p[0].lo;
        if (d >= p[p.length - 1].y1) return p[p.length - 1].hi;
        const q = find("y0", d);
        return q.lo + (d - q.y0) / (q.y1 - q.y0) * (q.hi - q.lo);
      },
    };
  }

  // -- hatching as SVG patterns: greyscale-readable kinds ------------------------------------
  function patternDefs(prefix) {
    let out = "";
    for (const [kind, s] of Object.entries(DATA.kinds)) {
      const h = s.hatch, e = s.edge;
      let strokes = "";
      if (h.includes("/")) strokes += `<path d="M0,8 L8,0" stroke="${e}" stroke-width="0.8"/>`;
      if (h.includes("\\")) strokes += `<path d="M0,0 L8,8" stroke="${e}" stroke-width="0.8"/>`;
      if (h.includes("x")) strokes += `<path d="M0,8 L8,0 M0,0 L8,8" stroke="${e}" stroke-width="0.7"/>`;
      if (h.includes("-") || h.includes("+")) strokes += `<path d="M0,4 L8,4" stroke="${e}" stroke-width="0.8"/>`;
      if (h.includes("|") || h.includes("+")) strokes += `<path d="M4,0 L4,8" stroke="${e}" stroke-width="0.8"/>`;
      if (h.includes(".")) strokes += `<circle cx="4" cy="4" r="0.9" fill="${e}"/>`;
      if (h.includes("o")) strokes += `<circle cx="4" cy="4" r="2" fill="none" stroke="${e}" stroke-width="0.7"/>`;
      out += `<pattern id="${prefix}-${kind}" width="8" height="8" patternUnits="userSpaceOnUse">` +
             `<rect width="8" height="8" fill="${s.fill}"/>${strokes}</pattern>`;
    }
    return out;
  }

  // -- columns --------------------------------------------------------------------------------
  const main = document.getElementById("columns");
  const tip = document.getElementById("tip");
  const columns = DATA.columns.map((c, i) => {
    const wrap = document.createElement("section");
    wrap.className = "column";
    wrap.setAttribute("aria-label", c.title);
    wrap.innerHTML = `<h2>${esc(c.title)}</h2><p class="range" id="range-${i}"></p>`;
    const svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("tabindex", "0");
    svg.setAttribute("role", "group");
    svg.setAttribute("aria-label", `${c.title}: address space, TASK_SIZE ${c.task_size}`);
    svg.dataset.column = String(i);
    wrap.appendChild(svg);
    main.appendChild(wrap);
    const snaps = c.snapshots.map((s) => ({label: s.label, events: s.events, regions: s.regions.map((r) => ({...r, start: num(r.s), end: num(r.e)}))}));
    return {i, c, svg, rangeEl: wrap.querySelector(".range"), axis: makeAxis(c.axis), snaps, d0: 0, d1: AXIS_H, step: snaps.length - 1, hits: new Set()};
  });

  function height() { return Math.max(420, window.innerHeight - document.querySelector("header").offsetHeight - 70); }

  function render(col) {
    const H = height(), {axis, d0, d1} = col;
    const y = (d) => H - (d - d0) / (d1 - d0) * H;
    const snap = col.snaps[Math.min(col.step, col.snaps.length - 1)];
    let body = `<defs>${patternDefs("p" + col.i)}</defs>`;
    // breaks: left-out spans, drawn as a band with their size
    for (const q of axis.pieces) {
      if (!q.omitted || q.y1 < d0 || q.y0 > d1) continue;
      const top = y(q.y1), bot = y(q.y0);
      body += `<g class="break"><rect x="${GUTTER}" y="${top}" width="${WIDTH}" height="${Math.max(1, bot - top)}"/>` +
              `<text x="${GUTTER + WIDTH / 2}" y="${(top + bot) / 2 + 4}" text-anchor="middle">${esc(q.text)} left out</text></g>`;
    }
    snap.regions.forEach((r, k) => {
      const ds = axis.d(r.start), de = axis.d(r.end);
      if (de < d0 || ds > d1) return;
      const inBreak = axis.pieces.some((q) => q.omitted && q.lo <= r.start && r.end <= q.hi);
      if (inBreak && (r.k === "free" || r.k === "reserved" || r.k === "kernel")) return;
      const top = y(de), exact = y(ds) - top, h = Math.max(1, exact);
      if (exact < 1 && r.k === "thread-guard") return;  // packed guards would paint it black
      const label = `${r.l}, ${r.s}-${r.e}, ${r.size}`;
      const hit = col.hits.has(k) ? " hit" : "";
      body += `<g class="region kind-${r.k}${hit}" data-index="${k}" data-start="${r.s}" data-end="${r.e}" tabindex="0" role="button" aria-label="${esc(label)}">` +
              `<rect x="${GUTTER}" y="${top}" width="${WIDTH}" height="${h}" fill="url(#p${col.i}-${r.k})"${h < 3 ? ' class="thin"' : ""}/>` +
              (h >= 14 ? `<text x="${GUTTER + 6}" y="${top + Math.min(h / 2 + 4, h - 3)}">${esc(r.l.endsWith(r.size) ? r.l : r.l + " · " + r.size)}</text>` : "") + `</g>`;
    });
    // ticks: addresses at evenly spaced heights of the window
    for (let t = 0; t <= 6; t++) {
      const d = d0 + (d1 - d0) * t / 6, py = y(d);
      body += `<g class="tick"><line x1="${GUTTER - 6}" x2="${GUTTER}" y1="${py}" y2="${py}"/>` +
              `<text x="${GUTTER - 8}" y="${py + (t === 6 ? 10 : t === 0 ? -2 : 4)}" text-anchor="end">${hex(axis.addr(d))}</text></g>`;
    }
    col.svg.setAttribute("width", GUTTER + WIDTH + 4);
    col.svg.setAttribute("height", H);
    col.svg.innerHTML = body;
    const lo = axis.addr(d0), hi = axis.addr(d1);
    col.rangeEl.textContent = `shown: ${hex(lo)} – ${hex(hi)} (${fmtSize(hi - lo)})`;
    col.rangeEl.dataset.lo = hex(lo);
    col.rangeEl.dataset.hi = hex(hi);
  }

  function renderAll() { columns.forEach(render); }

  function setWindow(col, d0, d1) {
    const minW = 1e-9 * AXIS_H;
    if (d1 - d0 < minW) { const m = (d0 + d1) / 2; d0 = m - minW / 2; d1 = m + minW / 2; }
    const w = Math.min(d1 - d0, AXIS_H);
    d0 = Math.max(0, Math.min(d0, AXIS_H - w));
    col.d0 = d0; col.d1 = d0 + w;
    render(col);
  }

  function zoom(col, factor, at) {
    const c = at === undefined ? (col.d0 + col.d1) / 2 : at;
    setWindow(col, c - (c - col.d0) * factor, c + (col.d1 - c) * factor);
  }

  function zoomTo(col, start, end) {
    // pad by 15% of the region's size in addresses, so a neighbouring break is not pulled in
    const pad = (end - start) * 0.15;
    setWindow(col, col.axis.d(Math.max(0, start - pad)), col.axis.d(end + pad));
  }

  function dAt(col, clientY) {
    const box = col.svg.getBoundingClientRect(), H = box.height;
    return col.d0 + (H - (clientY - box.top)) / H * (col.d1 - col.d0);
  }

  function regionOf(target) {
    const g = target.closest && target.closest("g.region");
    if (!g) return null;
    const col = columns[Number(g.ownerSVGElement.dataset.column)];
    return {col, g, r: col.snaps[Math.min(col.step, col.snaps.length - 1)].regions[Number(g.dataset.index)]};
  }

  function showTip(hit, x, yy) {
    const {r} = hit;
    tip.innerHTML = `<strong>${esc(r.l)}</strong> · ${esc(r.size)}<br><code>${esc(r.s)}-${esc(r.e)}</code>` +
      (r.ex.length ? `<br>${r.ex.map(esc).join("<br>")}` : "") +
      (r.maps.length ? `<pre>${r.maps.slice(0, 8).map(esc).join("\n")}${r.maps.length > 8 ? "\n…" : ""}</pre>` : "");
    tip.hidden = false;
    tip.style.left = Math.min(x + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = Math.min(yy + 14, window.innerHeight + window.scrollY - tip.offsetHeight - 8) + "px";
  }

  for (const col of columns) {
    const svg = col.svg;
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      zoom(col, Math.exp(ev.deltaY * 0.0015), dAt(col, ev.clientY));
    }, {passive: false});
    let drag = null;
    svg.addEventListener("mousedown", (ev) => { drag = {y: ev.clientY, d0: col.d0, d1: col.d1, moved: false}; });
    window.addEventListener("mousemove", (ev) => {
      if (!drag) return;
      const dy = ev.clientY - drag.y;
      if (Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      const shift = dy / svg.getBoundingClientRect().height * (drag.d1 - drag.d0);
      setWindow(col, drag.d0 + shift, drag.d1 + shift);
    });
    window.addEventListener("mouseup", () => { setTimeout(() => { drag = null; }, 0); });
    svg.addEventListener("click", (ev) => {
      if (drag && drag.moved) return;
      const hit = regionOf(ev.target);
      if (hit) zoomTo(col, hit.r.start, hit.r.end);
    });
    svg.addEventListener("mouseover", (ev) => { const hit = regionOf(ev.target); if (hit) showTip(hit, ev.pageX, ev.pageY); });
    svg.addEventListener("mousemove", (ev) => { if (!tip.hidden) { tip.style.left = Math.min(ev.pageX + 14, window.innerWidth - tip.offsetWidth - 8) + "px"; tip.style.top = (ev.pageY + 14) + "px"; } });
    svg.addEventListener("mouseout", (ev) => { if (regionOf(ev.target)) tip.hidden = true; });
    svg.addEventListener("focusin", (ev) => {
      const hit = regionOf(ev.target);
      if (hit) { const b = hit.g.getBoundingClientRect(); showTip(hit, b.right + window.scrollX - 60, b.top + window.scrollY); }
    });
    svg.addEventListener("focusout", () => { tip.hidden = true; });
    svg.addEventListener("keydown", (ev) => {
      const hit = regionOf(ev.target);
      const step = (col.d1 - col.d0) * 0.2;
      const keys = {
        "+": () => zoom(col, 0.5), "=": () => zoom(col, 0.5), "-": () => zoom(col, 2),
        "0": () => setWindow(col, 0, AXIS_H),
        "ArrowUp": () => setWindow(col, col.d0 + step, col.d1 + step),
        "ArrowDown": () => setWindow(col, col.d0 - step, col.d1 - step),
        "Enter": () => { if (hit) { const idx = hit.g.dataset.index; zoomTo(col, hit.r.start, hit.r.end); const again = svg.querySelector(`g.region[data-index="${idx}"]`); if (again) again.focus(); } },
      };
      if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
    });
  }

  // -- search ---------------------------------------------------------------------------------
  const search = document.getElementById("search"), found = document.getElementById("found");
  function doSearch() {
    const q = search.value.trim().toLowerCase();
    let total = 0;
    for (const col of columns) {
      col.hits = new Set();
      if (!q) continue;
      const snap = col.snaps[Math.min(col.step, col.snaps.length - 1)];
      const addr = /^(0x[0-9a-f]+|\d+)$/.test(q) ? Number(q.startsWith("0x") ? parseInt(q, 16) : q) : null;
      snap.regions.forEach((r, k) => {
        const match = addr !== null ? (r.start <= addr && addr < r.end)
          : (r.k !== "free" && (r.l.toLowerCase().includes(q) || r.maps.some((m) => m.toLowerCase().includes(q)) || r.ex.some((e) => e.toLowerCase().includes(q))));
        if (match) col.hits.add(k);
      });
      total += col.hits.size;
      if (col.hits.size) {
        const first = snap.regions[Math.min(...col.hits)];
        zoomTo(col, first.start, first.end);
      } else render(col);
    }
    found.textContent = q ? `${total} region${total === 1 ? "" : "s"} match` : "";
  }
  search.addEventListener("input", doSearch);
  document.getElementById("reset").addEventListener("click", () => columns.forEach((c) => setWindow(c, 0, AXIS_H)));

  // -- steps ------------------------------------------------------------------------------------
  const steps = Math.max(...columns.map((c) => c.snaps.length));
  const slider = document.getElementById("step"), stepLabel = document.getElementById("step-label"), events = document.getElementById("events");
  function showStep(k) {
    for (const col of columns) col.step = Math.min(k, col.snaps.length - 1);
    const items = [];
    let label = "";
    for (const col of columns) {
      const s = col.snaps[col.step];
      label = label || s.label;
      for (const e of s.events) items.push(`<li><strong>${esc(col.c.title)}</strong>: ${esc(e)}</li>`);
    }
    stepLabel.textContent = `${k} of ${steps - 1}: ${label}`;
    events.innerHTML = items.join("");
    doSearch();
    renderAll();
  }
  if (steps > 1) {
    document.getElementById("steps").hidden = false;
    slider.max = String(steps - 1);
    slider.value = String(steps - 1);
    const marks = document.getElementById("step-marks");
    for (let k = 0; k < steps; k++) {
      if (columns.some((c) => c.snaps[k] && c.snaps[k].events.length)) {
        const o = document.createElement("option");
        o.value = String(k);
        o.label = "events";
        marks.appendChild(o);
      }
    }
    slider.addEventListener("input", () => showStep(Number(slider.value)));
    showStep(steps - 1);
  }

  // -- legend -----------------------------------------------------------------------------------
  const used = new Set();
  for (const col of columns) for (const s of col.snaps) for (const r of s.regions) used.add(r.k);
  document.getElementById("legend").innerHTML = `<svg width="0" height="0" aria-hidden="true"><defs>${patternDefs("legend")}</defs></svg>` +
    [...used].filter((k) => DATA.kinds[k]).map((k) => `<span class="key"><svg width="22" height="14" aria-hidden="true"><rect width="22" height="14" fill="url(#legend-${k})" stroke="${DATA.kinds[k].edge}"/></svg>${esc(DATA.kinds[k].title)}</span>`).join("");

  window.addEventListener("resize", renderAll);
  renderAll();
  window.vasimView = {columns, zoomTo, setWindow, showStep};
})();
