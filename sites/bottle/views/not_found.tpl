% rebase("base", title="Not found")
<h1>Page not found</h1>
<p>Nothing lives at <code>{{path}}</code>. Try the <a href="/">home page</a>.</p>
