% rebase("base", title="Welcome")
<h1>Welcome</h1>
<p>An ordinary Bottle application, run in CPython compiled to WebAssembly.</p>
<h2>Files</h2>
<p>Sent by the app with <code>static_file</code>: it answers <code>If-None-Match</code> and
   <code>If-Modified-Since</code> with 304 and <code>Range</code> with 206.</p>
<ul>
% for file in files:
  <li><a href="/files/{{file["name"]}}">{{file["name"]}}</a> ({{file["size"]}} bytes,
      <a href="/files/{{file["name"]}}?download=1">download</a>)</li>
% end
</ul>
<h2>JSON</h2>
<p><code>POST /api/stats</code> with <code>{"text": "..."}</code> counts its characters,
   words and lines.</p>
