//! What the server tells its operator: the request-end hook (`observe`), the access logs
//! and the metrics. Every step of the request path ends a response through `observe`;
//! nothing here waits on a request.

pub mod access_log;
pub mod metrics;
pub mod observe;
