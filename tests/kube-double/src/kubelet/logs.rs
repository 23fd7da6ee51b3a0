use crate::{body::Body, cluster::Cluster, query::Query, status::ApiError};
use hyper::Response;
use std::sync::Arc;
pub fn serve(_: &Arc<Cluster>, _: &str, _: &str, _: &Query) -> Result<Response<Body>, ApiError> {
    Err(ApiError::not_found_path())
}
