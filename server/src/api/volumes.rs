//! `/volumes`: Berth's volumes on the hosts, with their service, slot, the replica
//! that uses each and the space it takes; deleting one that nothing needs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use domain::wire::{ErrorBody, VolumeView};

use super::{ApiError, ApiPath, ApiQuery, Caller};
use crate::ops::volumes::{self, VolumeFilter};
use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(remove))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VolumeQuery {
    /// Only this service's volumes.
    service: Option<String>,
    /// Only the volumes on this host.
    host: Option<String>,
}

/// The volumes the caller may see on every host that answers (admins also see
/// those of deleted services), with size, use and whether they may be deleted.
#[utoipa::path(get, path = "/api/v1/volumes", tag = "volumes", params(VolumeQuery),
    responses((status = 200, body = Vec<VolumeView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiQuery(q): ApiQuery<VolumeQuery>,
) -> Result<Json<Vec<VolumeView>>, ApiError> {
    let filter = VolumeFilter {
        service: q.service,
        host: q.host,
    };
    Ok(Json(volumes::list(&state, &ctx, &filter).await?))
}

/// Deletes a volume no replica uses or needs: its data is gone (admins; 409 for
/// one in use or still needed).
#[utoipa::path(delete, path = "/api/v1/volumes/{host}/{name}", tag = "volumes",
    params(("host" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Caller(ctx): Caller,
    ApiPath((host, name)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    volumes::delete(&state, &ctx, &host, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
