//! What every answer is made of: the one response body type and the server's fixed error
//! pages, shared by each step of the request path that answers (the front checks, static
//! files, the WSGI dispatcher).

pub mod body;
pub mod pages;
