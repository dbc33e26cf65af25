// The local server's pages: live updates of the sessions list, and selecting a node of a session's tree.
// Plain script, no build step. Markup it swaps in comes from the server, already escaped.
"use strict";

function pollSessions(table) {
  const source = table.dataset.live;
  const every = Number(table.dataset.pollMs) || 1500;
  const rows = document.getElementById("rows");
  const totals = document.getElementById("totals");
  const pager = document.getElementById("pager");
  const state = document.getElementById("live-state");
  let running = false;
  const last = { rows: null, totals: null, pager: null };
  const places = { rows, totals, pager };

  async function refresh() {
    if (running || document.hidden) return;
    running = true;
    try {
      const answer = await fetch(source, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      const parts = await answer.json();
      for (const name of Object.keys(places)) {
        // Swapped only when it changed: a list that stays put keeps the reader's selection.
        if (last[name] !== parts[name]) places[name].innerHTML = parts[name];
        last[name] = parts[name];
      }
      state.textContent = "Live";
      state.className = "live on";
    } catch (error) {
      state.textContent = "Not updating (" + error.message + ")";
      state.className = "live off";
    } finally {
      running = false;
    }
  }
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", refresh);
}

function selectableTree(tree) {
  const nodes = Array.from(tree.querySelectorAll("tr.node"));
  function select(row) {
    for (const other of nodes) other.removeAttribute("aria-selected");
    row.setAttribute("aria-selected", "true");
    for (const pane of document.querySelectorAll("section.detail")) pane.hidden = true;
    const pane = document.getElementById("detail-" + row.dataset.node);
    if (pane) pane.hidden = false;
  }
  tree.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    const row = event.target.closest("tr.node");
    if (row) select(row);
  });
  tree.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr.node");
    if (!row) return;
    const at = nodes.indexOf(row);
    let next = null;
    if (event.key === "ArrowDown") next = nodes[at + 1];
    else if (event.key === "ArrowUp") next = nodes[at - 1];
    else if (event.key === "Enter" || event.key === " ") next = row;
    if (next) {
      event.preventDefault();
      next.focus();
      select(next);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table.sessions[data-live]");
  if (table) pollSessions(table);
  const tree = document.querySelector("table.tree");
  if (tree) selectableTree(tree);
});
