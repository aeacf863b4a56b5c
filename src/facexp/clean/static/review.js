// facexp clean review: decide on each suspect with one key; every decision is stored by the server at once.
// Keys: arrows move, k keep, a accept the suggested class, x set aside, 1-9 relabel to that class, u (or Ctrl+Z) undo.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 200; // cards rendered at a time
let classes = [];
let suspects = [];
let shown = 0;
let current = 0;

function headers(json) {
  const typed = $("api-key").value;
  if (typed) sessionStorage.setItem("facexp-key", typed);
  const key = typed || sessionStorage.getItem("facexp-key") || "";
  const h = key ? { "X-API-Key": key } : {};
  if (json) h["Content-Type"] = "application/json";
  return h;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

async function call(method, url, body) {
  const res = await fetch(url, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) $("api-key").hidden = false;
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ? data.error.message : `error ${res.status}`);
  return data;
}

function decisionText(d) {
  if (!d) return "undecided";
  if (d.action === "relabel") return `relabel → ${d.label}`;
  return d.action === "aside" ? "set aside" : "keep";
}

function summary() {
  const decided = suspects.filter((s) => s.decision).length;
  setStatus(`${decided} of ${suspects.length} suspects decided; every decision is saved as you make it.`);
}

function paintCard(li, s) {
  li.className = "card" + (s.decision ? " " + s.decision.action : "") + (Number(li.dataset.index) === current ? " current" : "");
  li.querySelector(".badge").textContent = decisionText(s.decision) + (s.decision && s.decision.applied ? " (applied)" : "");
}

function card(s, index) {
  const li = document.createElement("li");
  li.tabIndex = -1;
  li.dataset.index = index;
  li.dataset.item = s.item_id;
  const img = document.createElement("img");
  img.alt = s.path;
  loadImage(img, s.item_id);
  const lines = [
    [`#${s.rank} ${s.path}`, "path"],
    [`given: ${s.given} · suggested: ${s.suggested || "–"}`, "labels"],
    [`score ${s.score.toFixed(3)} · ${s.reasons.join(", ")}`, "reason"],
  ];
  li.append(img);
  for (const [text, cls] of lines) {
    const p = document.createElement("p");
    p.className = "line " + cls;
    p.textContent = text;
    li.append(p);
  }
  if (s.detail) {
    const p = document.createElement("p");
    p.className = "line muted";
    p.textContent = s.detail;
    li.append(p);
  }
  const badge = document.createElement("p");
  badge.className = "line badge";
  li.append(badge);
  const actions = document.createElement("div");
  actions.className = "actions";
  const keep = document.createElement("button");
  keep.type = "button";
  keep.textContent = "keep (k)";
  keep.addEventListener("click", () => { focusCard(index); decide("keep"); });
  const aside = document.createElement("button");
  aside.type = "button";
  aside.textContent = "set aside (x)";
  aside.addEventListener("click", () => { focusCard(index); decide("aside"); });
  const select = document.createElement("select");
  select.append(new Option("relabel…", ""));
  classes.forEach((c, i) => select.append(new Option(`${i < 9 ? i + 1 + " " : ""}${c}`, c)));
  select.addEventListener("change", () => { if (select.value) { focusCard(index); decide("relabel", select.value); select.value = ""; } });
  actions.append(keep, aside, select);
  li.append(actions);
  li.addEventListener("click", (e) => { if (e.target.tagName !== "SELECT" && e.target.tagName !== "OPTION") focusCard(index); });
  paintCard(li, s);
  return li;
}

async function loadImage(img, itemId) {
  try {
    const res = await fetch(`/api/image/${itemId}`, { headers: headers(false) });
    if (res.ok) img.src = URL.createObjectURL(await res.blob());
  } catch (err) { /* the card still shows its text */ }
}

function renderMore() {
  const grid = $("grid");
  const end = Math.min(suspects.length, shown + PAGE);
  for (let i = shown; i < end; i++) grid.append(card(suspects[i], i));
  shown = end;
  $("more").hidden = shown >= suspects.length;
}

function cardAt(index) {
  return $("grid").querySelector(`li[data-index="${index}"]`);
}

function focusCard(index) {
  if (!suspects.length) return;
  index = Math.max(0, Math.min(suspects.length - 1, index));
  while (index >= shown) renderMore();
  const old = cardAt(current);
  current = index;
  if (old) paintCard(old, suspects[Number(old.dataset.index)]);
  const li = cardAt(current);
  paintCard(li, suspects[current]);
  li.focus({ preventScroll: true });
  li.scrollIntoView({ block: "nearest" });
}

function columns() {
  const cards = $("grid").children;
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  let n = 0;
  while (n < cards.length && cards[n].offsetTop === top) n++;
  return Math.max(1, n);
}

function replace(itemId, decision) {
  const i = suspects.findIndex((s) => s.item_id === itemId);
  if (i < 0) return -1;
  suspects[i].decision = decision;
  const li = cardAt(i);
  if (li) paintCard(li, suspects[i]);
  return i;
}

async function decide(action, label) {
  const s = suspects[current];
  if (!s) return;
  try {
    const d = await call("POST", "/api/decide", { item_id: s.item_id, action, label: label || null });
    replace(s.item_id, d);
    summary();
    const next = suspects.findIndex((t, i) => i > current && !t.decision);
    focusCard(next >= 0 ? next : Math.min(current + 1, suspects.length - 1));
  } catch (err) {
    setStatus(`Not saved: ${err.message}`, true);
  }
}

async function undo() {
  try {
    const { undone } = await call("POST", "/api/undo", {});
    if (!undone) { setStatus("Nothing to undo."); return; }
    const i = replace(undone.item_id, undone.decision);
    summary();
    if (i >= 0) focusCard(i);
  } catch (err) {
    setStatus(`Undo failed: ${err.message}`, true);
  }
}

async function load() {
  try {
    const state = await call("GET", "/api/state");
    const keepFocus = suspects.length ? suspects[current].item_id : null;
    classes = state.classes;
    suspects = state.suspects;
    $("dataset").textContent = state.dataset;
    $("keys").innerHTML = "";
    const parts = ["←↑→↓ move", "k keep", "a accept suggestion", "x set aside", ...classes.slice(0, 9).map((c, i) => `${i + 1} ${c}`), "u undo"];
    for (const p of parts) {
      const [key, ...rest] = p.split(" ");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      $("keys").append(kbd, ` ${rest.join(" ")}  `);
    }
    $("grid").innerHTML = "";
    shown = 0;
    renderMore();
    const at = keepFocus === null ? suspects.findIndex((s) => !s.decision) : suspects.findIndex((s) => s.item_id === keepFocus);
    focusCard(at >= 0 ? at : 0);
    summary();
  } catch (err) {
    setStatus(`Could not load the suspects: ${err.message}`, true);
  }
}

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT" || e.altKey || e.metaKey) return;
  const key = e.key;
  if ((e.ctrlKey && key.toLowerCase() === "z") || (!e.ctrlKey && key === "u")) { e.preventDefault(); undo(); return; }
  if (e.ctrlKey) return;
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() };
  if (key in moves) { e.preventDefault(); focusCard(current + moves[key]); return; }
  if (key === "k") decide("keep");
  else if (key === "x" || key === "Delete") decide("aside");
  else if (key === "a" && suspects[current] && suspects[current].suggested) decide("relabel", suspects[current].suggested);
  else if (/^[1-9]$/.test(key) && Number(key) <= classes.length) decide("relabel", classes[Number(key) - 1]);
});
$("more").addEventListener("click", renderMore);
$("api-key").addEventListener("change", load);
document.addEventListener("visibilitychange", () => { if (!document.hidden) load(); }); // another tab may have decided meanwhile
load();
