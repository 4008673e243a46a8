// The wsgi-wasm status page's script (served from /status.js by the admin listener).
// The page is whole without it; this draws each site's last minutes as a small SVG chart
// and refreshes the numbers from /status.json. Text goes in with textContent only: site
// errors are tracebacks from untrusted apps.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 5000;
  const RELOAD_MS = 15000;
  const WIDTH = 150;
  const HEIGHT = 36;

  function rate(perSecond) {
    if (perSecond === 0) return "0";
    if (perSecond < 0.1) return perSecond.toFixed(2);
    if (perSecond < 10) return perSecond.toFixed(1);
    return perSecond.toFixed(0);
  }

  function mib(bytes) {
    return (bytes / (1024 * 1024)).toFixed(0);
  }

  function node(tag, attributes, text) {
    const element = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) {
      element.setAttribute(name, String(value));
    }
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // One site's requests (area and line) and 5xx answers (line) over the history buckets.
  function chart(site, step) {
    const requests = site.series.requests;
    const errors = site.series.errors;
    const count = requests.length;
    const top = Math.max(1, ...requests);
    const pad = 2;
    const x = (i) => pad + ((WIDTH - 2 * pad) * i) / Math.max(1, count - 1);
    const y = (v) => HEIGHT - pad - ((HEIGHT - 2 * pad - 8) * v) / top;
    const points = (values) => values.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1));
    const minutes = Math.round((count * step) / 60);
    const total = requests.reduce((a, b) => a + b, 0);
    const failed = errors.reduce((a, b) => a + b, 0);

    const svg = node("svg", {
      class: "spark",
      width: WIDTH,
      height: HEIGHT,
      viewBox: "0 0 " + WIDTH + " " + HEIGHT,
      role: "img",
      "aria-label": site.name + ": " + total + " requests, " + failed + " errors in "
        + minutes + " minutes",
    });
    svg.appendChild(node("title", {}, total + " requests, " + failed + " 5xx in the last "
      + minutes + " minutes (" + step + " s per point; peak " + top + ")"));
    svg.appendChild(node("line", {
      class: "base", x1: pad, x2: WIDTH - pad, y1: HEIGHT - pad, y2: HEIGHT - pad,
    }));
    const line = points(requests);
    const area = "M" + x(0).toFixed(1) + "," + (HEIGHT - pad) + " L" + line.join(" L")
      + " L" + x(count - 1).toFixed(1) + "," + (HEIGHT - pad) + " Z";
    svg.appendChild(node("path", { class: "requests-area", d: area }));
    svg.appendChild(node("polyline", { class: "requests", points: line.join(" ") }));
    if (failed > 0) {
      svg.appendChild(node("polyline", { class: "errors", points: points(errors).join(" ") }));
    }
    if (total > 0) {
      svg.appendChild(node("text", { class: "peak", x: WIDTH - pad, y: 8 }, String(top)));
    }
    return svg;
  }

  function build(site) {
    const parts = [];
    if (site.serving_build) parts.push(site.serving_build.slice(0, 12));
    if (site.building_since !== null) {
      parts.push("building for " + Math.floor(Date.now() / 1000 - site.building_since) + "s");
    } else if (site.last_build_seconds !== null) {
      parts.push("took " + site.last_build_seconds.toFixed(1) + "s");
    }
    return parts.length ? parts.join(" · ") : "—";
  }

  function limits(site) {
    const hit = Object.entries(site.breaches).filter(([, count]) => count > 0);
    return hit.length ? hit.map(([kind, count]) => kind + " " + count).join(", ") : "—";
  }

  // As the server writes it (status_page.rs `storage`).
  function storage(site) {
    if (!site.storage || site.storage.length === 0) return "—";
    const mb = (bytes) => (bytes / (1024 * 1024)).toFixed(1);
    return site.storage.map((u) => u.mount + " " + (u.partial ? "≥" : "") + mb(u.bytes) +
      " / " + mb(u.max_bytes) + " MiB, " + u.files + " / " + u.max_files + " files").join("; ");
  }

  function set(row, field, text) {
    const cell = row.querySelector('[data-field="' + field + '"]');
    if (cell && cell.textContent !== text) cell.textContent = text;
    return cell;
  }

  function normalized(text) {
    return text === null ? null : text.replace(/\r\n?/g, "\n");
  }

  // Whether the page's rows still list these sites in these states with these errors.
  function sameSites(rows, sites) {
    if (rows.length !== sites.length) return false;
    return sites.every((site, i) => {
      const row = rows[i];
      if (row.dataset.site !== site.name || row.dataset.state !== site.state) return false;
      const shown = document.querySelector('pre[data-error-of="' + CSS.escape(site.name) + '"]');
      return normalized(shown ? shown.textContent : null) === normalized(site.error);
    });
  }

  // Reloads the page for its new rows, at most every RELOAD_MS (whatever goes wrong, the
  // page does not reload in a loop).
  function reloadPage() {
    try {
      const last = Number(window.sessionStorage.getItem("wsgi-wasm-reloaded") || 0);
      if (Date.now() - last < RELOAD_MS) return false;
      window.sessionStorage.setItem("wsgi-wasm-reloaded", String(Date.now()));
    } catch (error) {
      return false;
    }
    window.location.reload();
    return true;
  }

  function render(data) {
    const rows = Array.from(document.querySelectorAll("tr.site"));
    if (!sameSites(rows, data.sites) && reloadPage()) return;
    const byName = new Map(rows.map((row) => [row.dataset.site, row]));
    for (const site of data.sites) {
      const row = byName.get(site.name);
      if (!row) continue;
      set(row, "request_rate", rate(site.request_rate));
      set(row, "error_rate", rate(site.error_rate));
      const requests = row.querySelector('[data-field="requests"]');
      if (requests) {
        const small = document.createElement("small");
        small.textContent = "(" + site.errors + " 5xx)";
        requests.replaceChildren(site.requests + " ", small);
      }
      set(row, "limits", limits(site));
      set(row, "instances", String(site.instances));
      set(row, "memory", site.memory_budget_bytes
        ? mib(site.memory_bytes) + " / " + mib(site.memory_budget_bytes) + " MiB" : "—");
      set(row, "storage", storage(site));
      set(row, "build", build(site));
      const cell = row.querySelector('[data-field="chart"]');
      if (cell) cell.replaceChildren(chart(site, data.series_step_seconds));
    }
  }

  async function refresh() {
    const updated = document.getElementById("updated");
    try {
      const response = await fetch("/status.json", { cache: "no-store" });
      if (!response.ok) throw new Error("status " + response.status);
      render(await response.json());
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      updated.classList.remove("bad");
    } catch (error) {
      updated.textContent = "cannot reach the server (" + error.message + ")";
      updated.classList.add("bad");
    }
  }

  refresh();
  window.setInterval(refresh, REFRESH_MS);
})();
