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
  }
}

async function predict(blob) {
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
  setStatus(body.count ? `${body.count} face(s) found.` : "No face found in this photo.");
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
        const [x, y, w, h] = face.box;
        const colour = COLOURS[i % COLOURS.length];
        const text = `${face.label} ${Math.round(face.probs[face.label] * 100)}%`;
        ctx.lineWidth = line;
        ctx.strokeStyle = colour;
        ctx.strokeRect(x, y, w, h);
        const tw = ctx.measureText(text).width + 2 * line;
        const ty = y - fontPx - 2 * line >= 0 ? y - fontPx - 2 * line : y + h;
        ctx.fillStyle = colour;
        ctx.fillRect(x, ty, tw, fontPx + 2 * line);
        ctx.fillStyle = "#fff";
        ctx.fillText(text, x + line, ty + fontPx);
        list.appendChild(faceItem(face, i, colour));
      });
      URL.revokeObjectURL(img.src);
      resolve();
    };
    img.src = URL.createObjectURL(blob);
  });
}

function faceItem(face, i, colour) {
  const li = document.createElement("li");
  li.className = "face";
  const head = document.createElement("div");
  head.className = "face-head";
  head.style.color = colour;
  head.textContent = `Face ${i + 1}: ${face.label}`;
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

function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  $("video").hidden = true;
  $("camera-snap").hidden = true;
  $("camera-start").textContent = "Use webcam";
}

$("camera-start").addEventListener("click", async () => {
  if (stream) return stopCamera();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setStatus("The webcam needs this page over https or on localhost.", true);
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true });
  } catch (err) {
    setStatus(`Webcam not available: ${err.message}`, true);
    return;
  }
  $("video").srcObject = stream;
  $("video").hidden = false;
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
