% rebase("base", title="Thanks")
<h1>Thanks, {{form["name"]}}!</h1>
<p>We would answer at <strong>{{form["email"]}}</strong>. Your message:</p>
<blockquote>{{form["message"]}}</blockquote>
<p>(This demo keeps nothing: the message is gone once this page is sent.)</p>
