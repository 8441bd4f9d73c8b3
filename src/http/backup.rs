//! `POST /admin/backup`: a consistent copy of the store, streamed as the answer while paytree
//! goes on serving (see `maintenance::DataDir::backup`).

use super::AppState;
use super::problem::{Problem, ProblemBody};
use crate::auth::{Caller, action};
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

/// A store file (redb), as `paytree restore` reads it: documentation only.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code, reason = "a type for the OpenAPI document, never built")]
pub struct StoreFile(Vec<u8>);

/// The store as it was when the backup began, as a redb file: what `paytree restore` puts
/// back. Writes go on meanwhile; a second backup waits for the first one's copy to end.
#[utoipa::path(
    post, path = "/admin/backup", tag = "operations",
    responses(
        (status = 200, description = "The store file; `Paytree-Position` is the last event it holds", content_type = "application/octet-stream", body = StoreFile,
            headers(("Paytree-Position" = u64, description = "The last event position in the backup"),
                    ("Content-Length" = u64, description = "The backup's size in bytes"))),
        (status = 500, description = "The copy failed (logged); nothing is left on disk", body = ProblemBody, content_type = "application/problem+json"),
        (status = 507, description = "The data directory's file system has less free space than the store's size", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn take_backup(State(app): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let backup = app.data_dir.backup().await?;
    let position = backup.copied.position;
    tracing::info!(
        bytes = backup.len,
        position,
        tables = backup.copied.tables,
        rows = backup.copied.rows,
        "backup copied; streaming it"
    );
    super::admin::audit(&app, &caller, action::BACKUP_TAKEN, &position.to_string()).await;
    let file = tokio::fs::File::from_std(backup.file);
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, backup.len.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"paytree-{position}.redb\""),
        ),
        (
            header::HeaderName::from_static(super::POSITION),
            position.to_string(),
        ),
    ];
    // Reads of 256 KiB: with the default 4 KiB, a gigabyte is a quarter million reads and writes.
    let stream = ReaderStream::with_capacity(file, 256 * 1024);
    Ok((headers, Body::from_stream(stream)).into_response())
}
