<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{title}} · Bottle on wsgi-wasm</title>
</head>
<body>
  <nav><a href="/">Home</a> · <a href="/hello/visitor">Hello</a> · <a href="/contact">Contact</a></nav>
  <main>
  {{!base}}
  </main>
  <footer>Served by Bottle inside a WebAssembly sandbox.</footer>
</body>
</html>
