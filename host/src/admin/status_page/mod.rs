//! The admin listener's status page (`GET /`) and its data (`GET /status.json`): every
//! site with its state (serving, building, failed with the error), request and error rates,
//! instances, memory and build, from the catalog's reports, the served table and the
//! metrics' per-site history.
//!
//! What the page shows is gathered in `survey.rs`; `html.rs` renders the page (with its
//! script and style), `data.rs` the same survey as `/status.json`.

mod data;
mod html;
mod survey;

pub use data::json;
pub use html::{html, CONTENT_SECURITY_POLICY, SCRIPT, STYLE};
pub use survey::{live, survey};
