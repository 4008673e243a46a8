//! Rust bindings for the WIT world in `wit/wsgi.wit`: the `handle` export and the `host`
//! interface the guest imports (implemented in `wsgi::io`). Imports are async so that a guest
//! waiting on the client (request body, slow reader) suspends instead of blocking a thread.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wsgi",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::wsgi_wasm::bridge::host;
