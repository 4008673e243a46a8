% rebase("base", title="Contact")
<h1>Contact</h1>
<form method="post" action="/contact">
  <label>Name <input name="name" value="{{form["name"]}}" maxlength="60" required></label>
  % if "name" in errors:
  <p class="error">{{errors["name"]}}</p>
  % end
  <label>Email <input name="email" type="email" value="{{form["email"]}}" required></label>
  % if "email" in errors:
  <p class="error">{{errors["email"]}}</p>
  % end
  <label>Message <textarea name="message" rows="4" required>{{form["message"]}}</textarea></label>
  % if "message" in errors:
  <p class="error">{{errors["message"]}}</p>
  % end
  <button type="submit">Send</button>
</form>
