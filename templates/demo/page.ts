// The demo's single page. Plain HTML and a few lines of script: it polls /api/info so the
// numbers change in place while the browser keeps its keep-alive connection across reloads.
export interface DemoInfo {
  generation: number;
  pid: number;
  visits: number;
  carriedOver: number;
  underLiveframe: boolean;
}

export function page(i: DemoInfo): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>liveframe demo: generation ${i.generation}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; }
  .grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: .8rem; margin: 1.5rem 0; }
  .card { border: 1px solid #ddd; border-radius: .5rem; padding: .8rem; }
  .card b { display: block; font-size: 1.8rem; }
  .card span { color: #666; font-size: .85rem; }
  code { background: #f3f3f3; padding: .1rem .3rem; border-radius: .2rem; }
  .changed { animation: flash 1s; }
  @keyframes flash { from { background: #fff3a0; } to { background: transparent; } }
</style>
</head>
<body>
<h1>liveframe</h1>
<p>Every reload starts a new <em>generation</em> of this app. It takes over the listening socket
<em>and this browser's open connection</em>; the counter lives in shared memory and carries on.</p>
<div class="grid">
  <div class="card"><b id="generation">${i.generation}</b><span>generation</span></div>
  <div class="card"><b id="pid">${i.pid}</b><span>pid</span></div>
  <div class="card"><b id="visits">${i.visits}</b><span>visits (shared state)</span></div>
  <div class="card"><b id="carriedOver">${i.carriedOver}</b><span>connections carried over</span></div>
</div>
<h2>Trigger a reload</h2>
<ul>
  <li>edit <code>templates/demo/app.ts</code> (or your own app) and save;</li>
  <li>press <code>r</code> + Enter in the terminal running <code>liveframe dev</code>;</li>
  <li>or run <code>liveframe reload</code> (<code>npm run reload</code>, or <code>kill -HUP</code> the supervisor).</li>
</ul>
<p>Then watch the generation and pid change here while the page keeps polling on the same connection.</p>
<p><button id="visit">count a visit</button> <small id="note"></small></p>
<script>
  const ids = ["generation", "pid", "visits", "carriedOver"];
  async function poll() {
    try {
      const info = await (await fetch("/api/info")).json();
      for (const id of ids) {
        const el = document.getElementById(id);
        if (el.textContent !== String(info[id])) { el.textContent = info[id]; el.classList.remove("changed"); void el.offsetWidth; el.classList.add("changed"); }
      }
      document.title = "liveframe demo: generation " + info.generation;
      document.getElementById("note").textContent = "";
    } catch (e) {
      document.getElementById("note").textContent = "server unreachable: " + e.message;
    }
  }
  document.getElementById("visit").onclick = async () => { await fetch("/api/visit", { method: "POST" }); poll(); };
  setInterval(poll, 1000);
</script>
</body>
</html>
`;
}
