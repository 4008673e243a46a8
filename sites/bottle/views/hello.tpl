% rebase("base", title="Hello, " + name)
<h1>Hello, {{name}}!</h1>
<p>Names are shown as text, never run as markup: try <a href="/hello/%3Cscript%3E">this one</a>.</p>
