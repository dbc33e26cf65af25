// The local server's pages: live updates of the sessions list and of a running session's page, and
// selecting a node of a session's tree. Plain script, no build step. Markup it swaps in comes from the
// server, already escaped.
"use strict";

// Asks the server what changed every `every` ms while the tab is shown (and at once when it is shown
// again). `apply` takes each answer and says where to ask next, or null to stop: nothing more changes.
function poll(first, every, apply) {
  const state = document.getElementById("live-state");
  let source = first;
  let running = false;

  async function refresh() {
    if (running || document.hidden || source === null) return;
    running = true;
    try {
      const answer = await fetch(source, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      source = apply(await answer.json());
      state.textContent = source === null ? "" : "Live";
      state.className = source === null ? "live" : "live on";
      if (source === null) {
        clearInterval(timer);
        document.removeEventListener("visibilitychange", refresh);
      }
    } catch (error) {
      state.textContent = "Not updating (" + error.message + ")";
      state.className = "live off";
    } finally {
      running = false;
    }
  }
  const timer = setInterval(refresh, every);
  document.addEventListener("visibilitychange", refresh);
}

function pollSessions(table) {
  const places = {
    rows: document.getElementById("rows"),
    totals: document.getElementById("totals"),
    pager: document.getElementById("pager"),
  };
  const last = { rows: null, totals: null, pager: null };
  poll(table.dataset.live, Number(table.dataset.pollMs) || 1500, (parts) => {
    for (const name of Object.keys(places)) {
      // Swapped only when it changed: a list that stays put keeps the reader's selection.
      if (last[name] !== parts[name]) places[name].innerHTML = parts[name];
      last[name] = parts[name];
    }
    return table.dataset.live;
  });
}

// A session's page while a session of it runs: its header, tree and detail panes follow what the
// server receives, until every session of it has ended. The reader's selection (by the node's key)
// is kept, and so is a detail pane whose digest did not change (with what the reader opened in it).
function pollSession(head, tree) {
  const base = head.dataset.live;
  const treePane = document.getElementById("tree-pane");
  const detailPane = document.getElementById("detail");
  const next = (version) => base + "?version=" + encodeURIComponent(version);

  function swapDetails(details) {
    const panes = new Map(Array.from(detailPane.querySelectorAll("section.detail"), (s) => [s.dataset.node, s]));
    const template = document.createElement("template");
    for (const [key, digest, markup] of details) {
      const pane = panes.get(key);
      panes.delete(key);
      if (pane && pane.dataset.digest === digest) continue;
      template.innerHTML = markup;
      const fresh = template.content.firstElementChild;
      fresh.hidden = key !== tree.selected();
      if (pane) pane.replaceWith(fresh);
      else detailPane.append(fresh);
    }
    for (const gone of panes.values()) gone.remove();
  }

  poll(next(head.dataset.version), Number(head.dataset.pollMs) || 1500, (parts) => {
    if (parts.tree !== undefined) {
      head.innerHTML = parts.head;
      const focused = document.activeElement && document.activeElement.closest("tr.node");
      treePane.innerHTML = parts.tree;
      tree.reselect(focused ? focused.dataset.node : null);
      swapDetails(parts.details);
    }
    return parts.active ? next(parts.version) : null;
  });
}

// The tree of a session's page: a node selected by click or keys shows its detail pane. Its rows may
// be swapped by live updates, so it listens on the pane around them and finds the rows when needed.
function selectableTree(pane) {
  const rows = () => Array.from(pane.querySelectorAll("tr.node"));
  let selected = rows().length ? rows()[0].dataset.node : null;

  function select(row) {
    selected = row.dataset.node;
    for (const other of rows()) other.removeAttribute("aria-selected");
    row.setAttribute("aria-selected", "true");
    for (const detail of document.querySelectorAll("section.detail")) detail.hidden = detail.dataset.node !== selected;
  }
  pane.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    const row = event.target.closest("tr.node");
    if (row) select(row);
  });
  pane.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr.node");
    if (!row) return;
    const all = rows();
    const at = all.indexOf(row);
    let next = null;
    if (event.key === "ArrowDown") next = all[at + 1];
    else if (event.key === "ArrowUp") next = all[at - 1];
    else if (event.key === "Enter" || event.key === " ") next = row;
    if (next) {
      event.preventDefault();
      next.focus();
      select(next);
    }
  });
  return {
    selected: () => selected,
    // After the rows were swapped: select the same node again (the top one if it is gone) and give
    // the focus back to the row that had it.
    reselect(focusedKey) {
      const all = rows();
      const row = all.find((r) => r.dataset.node === selected) || all[0];
      if (row) select(row);
      const focus = all.find((r) => r.dataset.node === focusedKey);
      if (focus) focus.focus();
    },
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table.sessions[data-live]");
  if (table) pollSessions(table);
  const pane = document.getElementById("tree-pane");
  const tree = pane ? selectableTree(pane) : null;
  const head = document.querySelector("#session-head[data-live]");
  if (head && tree) pollSession(head, tree);
});
