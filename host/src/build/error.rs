//! [`BuildError`]: why a site build failed, with the output its author needs to see.

/// Why a build failed: the Python output is what the site's author needs to see.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("site `{site}`: importing the app failed while building its component:\n{output}")]
    Python { site: String, output: String },
    /// An import of a native extension the build removed (see `native.rs`).
    #[error("site `{site}`: {reason}\n{output}")]
    Native {
        site: String,
        reason: String,
        output: String,
    },
    /// The app opened a database at import time, while no data folder is mounted.
    #[error(
        "site `{site}`: the app opened a database while it was imported (`unable to open \
         database file`): data folders (`app.data`) are mounted only when the site runs, not \
         while it is built. Open the database in a request instead: create tables on the \
         first request or in a migration step, not at module level (Flask-SQLAlchemy's \
         `db.create_all()` inside a view or a `before_request` hook).\n{output}"
    )]
    DataAtBuild { site: String, output: String },
    /// A `warmup` URL raised or answered 5xx while the component was built.
    #[error("site `{site}`: `app.warmup`: {reason}\n{output}")]
    Warmup {
        site: String,
        reason: String,
        output: String,
    },
    /// The requirements file says something other than package requirements.
    #[error("site `{site}`: `app.requirements` refused:\n{errors}")]
    RefusedRequirements { site: String, errors: String },
    /// A requirement (or one it depends on) has no wheel the guest can use.
    #[error(
        "site `{site}`: vendoring `{requirements}` failed: package `{package}` has no wheel \
         for the guest (CPython 3.14, pure Python or manylinux); only wheels can be used: a \
         package's build never runs on the server. Pick a version with a wheel, or a \
         pure-Python alternative.\n{output}"
    )]
    NoWheel {
        site: String,
        requirements: String,
        package: String,
        output: String,
    },
    #[error("site `{site}`: vendoring `{requirements}` failed:\n{output}")]
    Requirements {
        site: String,
        requirements: String,
        output: String,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}
