// facexp web page: send a photo to /v1/predict, draw every face's box and label, show probabilities.
// Everything is local: the photo goes only to this server, and no script or font comes from elsewhere.
"use strict";
const $ = (id) => document.getElementById(id);
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];
let lastBlob = null;
let requestNo = 0; // answers to an older photo are dropped when a newer one was sent
let stream = null;

function headers() {
  const typed = $("api-key").value;
  if (typed) sessionStorage.setItem("facexp-key", typed);
  const key = typed || sessionStorage.getItem("facexp-key") || "";
  return key ? { "X-API-Key": key } : {};
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

function faces(n) {
  return `${n} face${n === 1 ? "" : "s"}`;
}

async function loadModel() {
  const res = await fetch("/v1/model", { headers: headers() });
  if (res.status === 401) {
    $("api-key").hidden = false;
    setStatus("This server needs an API key: type it above, then choose a photo.", true);
    return;
  }
  if (res.ok) {
    const card = await res.json();
    $("model-name").textContent = `${card.arch} · ${card.classes.join(", ")}`;
    classes = card.classes.slice(); // the timeline's colours follow the model's class order
  }
}

async function predict(blob) {
  stopLive(); // a chosen photo replaces the live picture
  lastBlob = blob;
  const mine = ++requestNo;
  setStatus("Reading faces…");
  const form = new FormData();
  form.append("file", blob, blob.name || "photo.jpg");
  const query = $("gradcam").checked ? "?gradcam=true" : "";
  let res, body;
  try {
    res = await fetch("/v1/predict" + query, { method: "POST", body: form, headers: headers() });
    body = await res.json();
  } catch (err) {
    if (mine === requestNo) setStatus(`The server did not answer (${err.message}).`, true);
    return;
  }
  if (mine !== requestNo) return;
  if (!res.ok) {
    if (res.status === 401) $("api-key").hidden = false;
    const retry = res.headers.get("Retry-After");
    const message = body.error ? body.error.message : `error ${res.status}`;
    setStatus(retry ? `${message} (retry in ${retry}s)` : message, true);
    return;
  }
  await draw(blob, body);
  setStatus(body.count ? `${faces(body.count)} found.` : "No face found in this photo.");
}

function draw(blob, body) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => {
      const canvas = $("canvas");
      canvas.width = body.image.width;
      canvas.height = body.image.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
      const fontPx = Math.max(14, Math.round(Math.max(canvas.width, canvas.height) / 40));
      ctx.font = `${fontPx}px sans-serif`;
      const list = $("faces");
      list.replaceChildren();
      body.faces.forEach((face, i) => {
        const colour = COLOURS[i % COLOURS.length];
        drawFace(ctx, face, `#${i + 1}`, colour, line, fontPx);
        list.appendChild(faceItem(face, i, colour));
      });
      URL.revokeObjectURL(img.src);
      resolve();
    };
    img.src = URL.createObjectURL(blob);
  });
}

// One face's box and its '#N label NN%' tag (N: the face's number, or its track id in Live mode).
function drawFace(ctx, face, tag, colour, line, fontPx) {
  const [x, y, w, h] = face.box;
  const text = `${tag} ${face.label} ${Math.round(face.probs[face.label] * 100)}%`;
  ctx.lineWidth = line;
  ctx.strokeStyle = colour;
  ctx.strokeRect(x, y, w, h);
  const tw = ctx.measureText(text).width + 2 * line;
  const ty = y - fontPx - 2 * line >= 0 ? y - fontPx - 2 * line : y + h;
  ctx.fillStyle = colour;
  ctx.fillRect(x, ty, tw, fontPx + 2 * line);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, x + line, ty + fontPx);
}

function faceItem(face, i, colour) {
  const li = document.createElement("li");
  li.className = "face";
  const head = document.createElement("div");
  head.className = "face-head";
  head.style.color = colour;
  head.textContent = `#${i + 1}: ${face.label}`;
  li.appendChild(head);
  Object.entries(face.probs).sort((a, b) => b[1] - a[1]).forEach(([label, p]) => {
    const row = document.createElement("div");
    row.className = "bar";
    const name = document.createElement("span");
    name.textContent = label;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    track.appendChild(fill);
    const pct = document.createElement("span");
    pct.textContent = `${(p * 100).toFixed(0)}%`;
    row.append(name, track, pct);
    li.appendChild(row);
  });
  if (face.gradcam) {
    const heat = document.createElement("img");
    heat.className = "gradcam";
    heat.alt = `Grad-CAM for face ${i + 1}: where the network looked for "${face.label}"`;
    heat.src = face.gradcam;
    li.appendChild(heat);
  }
  return li;
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) predict(e.target.files[0]); });
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) predict(e.dataTransfer.files[0]); });
$("gradcam").addEventListener("change", () => { if (lastBlob) predict(lastBlob); });

// --- Live mode: webcam frames to /v1/predict/live, a few per second --------------------------
// A frame is sent only when the answer to the previous one has arrived: while the server is busy,
// frames are skipped (counted), never queued. Each person keeps a track id (and a colour); the
// timeline shows each person's expression over the last LIVE_WINDOW_S seconds.
const LIVE_FPS = 4;
const LIVE_WINDOW_S = 30;
const LIVE_MAX_SIDE = 640;
const CLASS_COLOURS = ["#4363d8", "#3cb44b", "#e6194b", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324",
                       "#808000", "#000075"];
let classes = [];
let live = null;

function trackColour(track) { return COLOURS[(track - 1) % COLOURS.length]; }

function classColour(label) {
  if (!classes.includes(label)) classes.push(label);
  return CLASS_COLOURS[classes.indexOf(label) % CLASS_COLOURS.length];
}

function stopLive(message) {
  if (!live) return;
  clearInterval(live.timer);
  live.stream.getTracks().forEach((t) => t.stop());
  live = null;
  $("video").hidden = true;
  $("live-start").textContent = "Live";
  if (message) setStatus(message, true);
}

// The camera in the page's <video>, or null with the reason in the status line (snapshot and Live).
async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("The webcam needs this page over https or on localhost.", true);
    return null;
  }
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: true });
  } catch (err) {
    setStatus(`Webcam not available: ${err.message}`, true);
    return null;
  }
  $("video").srcObject = media;
  $("video").hidden = false;
  return media;
}

async function startLive() {
  stopCamera();
  const media = await openCamera();
  if (!media) return;
  $("timeline").hidden = false;
  $("live-start").textContent = "Stop live";
  const session = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  live = { stream: media, session, start: performance.now(), busy: false, answered: 0, skipped: 0, history: [] };
  live.timer = setInterval(liveTick, 1000 / LIVE_FPS);
  setStatus("Live: starting…");
}

function liveTick() {
  const video = $("video");
  if (!live || !video.videoWidth) return;
  if (live.busy) { live.skipped++; return; }
  const mine = live;
  mine.busy = true;
  const scale = Math.min(1, LIVE_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const frame = document.createElement("canvas");
  frame.width = Math.round(video.videoWidth * scale);
  frame.height = Math.round(video.videoHeight * scale);
  frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
  const t = (performance.now() - mine.start) / 1000;
  frame.toBlob(async (blob) => {
    try {
      await sendLiveFrame(mine, frame, blob, t);
    } finally {
      mine.busy = false;
    }
  }, "image/jpeg", 0.85);
}

async function sendLiveFrame(mine, frame, blob, t) {
  const form = new FormData();
  form.append("file", blob, "frame.jpg");
  const url = `/v1/predict/live?session=${mine.session}&t=${t.toFixed(3)}`;
  let res, body;
  try {
    res = await fetch(url, { method: "POST", body: form, headers: headers() });
    body = await res.json();
  } catch (err) {
    mine.skipped++;
    return;
  }
  if (live !== mine) return;
  if (res.status === 503) { mine.skipped++; return; }
  if (!res.ok) {
    if (res.status === 401) $("api-key").hidden = false;
    stopLive(body.error ? body.error.message : `error ${res.status}`);
    return;
  }
  mine.answered++;
  drawLive(frame, body);
  mine.history.push({ t: body.time_s, faces: body.faces.map((f) => ({ track: f.track, label: f.label })) });
  while (mine.history.length && mine.history[0].t < body.time_s - LIVE_WINDOW_S) mine.history.shift();
  drawTimeline(mine.history, body.time_s);
  const rate = mine.answered / Math.max(1, (performance.now() - mine.start) / 1000);
  setStatus(`Live: ${faces(body.count)}; ${rate.toFixed(1)} frames/s answered, ${mine.skipped} skipped while the ` +
            "server was busy.");
}

function drawLive(frame, body) {
  const canvas = $("canvas");
  canvas.width = frame.width;
  canvas.height = frame.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(frame, 0, 0);
  const line = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  const fontPx = Math.max(14, Math.round(Math.max(canvas.width, canvas.height) / 40));
  ctx.font = `${fontPx}px sans-serif`;
  const list = $("faces");
  list.replaceChildren();
  body.faces.slice().sort((a, b) => a.track - b.track).forEach((face) => {
    drawFace(ctx, face, `#${face.track}`, trackColour(face.track), line, fontPx);
    list.appendChild(faceItem(face, face.track - 1, trackColour(face.track)));
  });
}

// One lane per person (the most recent four), a cell per answered frame in the colour of its expression.
function drawTimeline(history, now) {
  const canvas = $("timeline");
  const ctx = canvas.getContext("2d");
  const W = canvas.width, legendH = 18, laneH = (canvas.height - legendH) / 4;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, canvas.height);
  const tracks = [...new Set(history.flatMap((h) => h.faces.map((f) => f.track)))].slice(-4);
  const x = (t) => W - ((now - t) / LIVE_WINDOW_S) * W;
  const cell = Math.max(2, W / (LIVE_WINDOW_S * LIVE_FPS));
  ctx.font = "11px sans-serif";
  tracks.forEach((track, lane) => {
    const y = lane * laneH;
    history.forEach((h) => h.faces.filter((f) => f.track === track).forEach((f) => {
      ctx.fillStyle = classColour(f.label);
      ctx.fillRect(x(h.t) - cell, y + 3, cell, laneH - 6);
    }));
    ctx.fillStyle = trackColour(track);
    ctx.fillText(`#${track}`, 2, y + laneH / 2 + 4);
  });
  let lx = 2;
  classes.forEach((label) => {
    ctx.fillStyle = classColour(label);
    ctx.fillRect(lx, canvas.height - 13, 10, 10);
    ctx.fillStyle = "#333";
    ctx.fillText(label, lx + 13, canvas.height - 4);
    lx += ctx.measureText(label).width + 24;
  });
}

$("live-start").addEventListener("click", () => (live ? stopLive() : startLive()));

function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("video").hidden = true;
  $("camera-snap").hidden = true;
  $("camera-start").textContent = "Use webcam";
}

$("camera-start").addEventListener("click", async () => {
  if (stream) return stopCamera();
  stopLive();
  stream = await openCamera();
  if (!stream) return;
  $("camera-snap").hidden = false;
  $("camera-start").textContent = "Stop webcam";
});

$("camera-snap").addEventListener("click", () => {
  const video = $("video");
  if (!video.videoWidth) return setStatus("The webcam has not started yet.", true);
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => predict(blob), "image/jpeg", 0.92);
});

loadModel();
