// facexp: paste into the browser console (F12 → Console) on a Google Images results page.
// Scroll down first: only results the page has loaded are exported. It saves the image URLs,
// one per line, as <search words>.txt. Rename the file to the class (e.g. happy.txt), then:
//     facexp collect urls happy.txt --out data/raw
(() => {
  const full = new Set();
  // 1. Full-size image URLs: result links carry them as "imgurl" once a result was opened...
  for (const a of document.querySelectorAll('a[href*="imgurl="]')) {
    try {
      const u = new URL(a.href, location.href).searchParams.get("imgurl");
      if (u && /^https?:\/\//.test(u)) full.add(u);
    } catch (e) { /* not a URL: skip */ }
  }
  // 2. ...and the page's scripts describe every result as ["https://site/full.jpg",height,width].
  for (const script of document.querySelectorAll("script")) {
    for (const m of (script.textContent || "").matchAll(/\["(https?:\/\/[^"]+)",(\d+),(\d+)\]/g)) {
      try {
        const u = JSON.parse(`"${m[1]}"`); // undo \u003d-style escapes
        if (!/(^|\.)(gstatic|google)\.com$/.test(new URL(u).hostname)) full.add(u);
      } catch (e) { /* broken escape: skip */ }
    }
  }
  // 3. Otherwise the thumbnails: http URLs or data:image URIs (real images; facexp decodes them).
  const thumbs = new Set();
  for (const img of document.querySelectorAll("img")) {
    const u = img.currentSrc || img.src || (img.dataset && (img.dataset.src || img.dataset.iurl));
    const big = (img.naturalWidth || img.width || 0) >= 50 && (img.naturalHeight || img.height || 0) >= 50;
    if (u && big && (/^https?:\/\//.test(u) || u.startsWith("data:image/"))) thumbs.add(u);
  }
  const urls = full.size ? [...full] : [...thumbs];
  if (urls.length === 0) {
    console.warn("facexp: no image URLs found; is this a Google Images results page?");
    return;
  }
  const query = new URLSearchParams(location.search).get("q") || "images";
  const name = query.trim().replace(/[^\p{L}\p{N}]+/gu, "_").replace(/^_+|_+$/g, "") || "images";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([urls.join("\n") + "\n"], { type: "text/plain" }));
  a.download = `${name}.txt`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  console.log(`facexp: saved ${urls.length} ${full.size ? "full-size image" : "thumbnail"} URLs to ${name}.txt`);
})();
