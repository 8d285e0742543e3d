//! The OpenAPI document, generated from the handlers' annotations and the documents' types.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::types::{
    ColumnsView, Health, JobAccepted, JobList, JobView, ModelCreated, ModelList, ModelSummaryView,
    ModelUpload, ModelView, ProveRequest, SrsView, VerifierView, VerifyResult,
};
use crate::engine::ModelOptions;
use crate::store::{JobKind, JobState, ModelStatus};

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(title = "zkgrid", description = "Zero-knowledge proofs of neural-network inference (halo2, KZG on BN254)."),
    paths(
        super::models::create,
        super::models::list,
        super::models::get,
        super::models::verifier,
        super::models::prove,
        super::jobs::list,
        super::jobs::get,
        super::proofs::get,
        super::proofs::verify,
        super::system::healthz,
        super::system::metrics,
        super::system::openapi,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ModelUpload, ModelCreated, ModelView, ColumnsView, SrsView,
        ModelOptions, ModelStatus, ProveRequest, JobAccepted, JobView, JobKind, JobState,
        VerifyResult, VerifierView, Health, ModelSummaryView, ModelList, JobList,
    )),
    modifiers(&BearerKey),
)]
pub struct ApiDoc;

/// Adds the `api_key` bearer security scheme.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}
