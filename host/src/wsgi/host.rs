//! The `host` interface of `wit/wsgi.wit`, as the guest calls it: each call finds the
//! request the instance serves now (`StoreState::request`) and hands it to `io.rs` (the
//! body, the head, the writes) or `file.rs` (send-file).

use bytes::Bytes;

use super::bindings::host;
use super::io::RequestIo;
use super::store::StoreState;

/// The request being served, for a host call; a call between requests is a trap.
fn request(state: &mut StoreState) -> wasmtime::Result<&mut RequestIo> {
    state
        .request
        .as_mut()
        .ok_or_else(|| wasmtime::format_err!("a host call arrived outside of a request"))
}

impl host::Host for StoreState {
    async fn read_body(&mut self, max: u32) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let io = request(self)?;
        Ok(io.read_body(max).await)
    }

    async fn send_headers(
        &mut self,
        status: String,
        headers: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(request(self)?.send_head(&status, &headers, None))
    }

    async fn send_response(
        &mut self,
        status: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(request(self)?.send_head(&status, &headers, Some(body)))
    }

    async fn write(&mut self, chunk: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        Ok(request(self)?.push(Bytes::from(chunk)).await)
    }

    async fn send_file(
        &mut self,
        head: Option<host::ResponseHead>,
        path: String,
        offset: u64,
        length: Option<u64>,
    ) -> wasmtime::Result<Result<u64, host::SendFileError>> {
        let mounts = self.files.clone();
        super::file::send(request(self)?, &mounts, head, &path, offset, length).await
    }

    async fn log(&mut self, text: String) -> wasmtime::Result<()> {
        let io = request(self)?;
        for line in text.trim_end().lines() {
            tracing::warn!(target: "wsgi.errors", site = %io.site, request = io.request_id, "{line}");
        }
        Ok(())
    }
}
