//! [`ApiError`]: every failure of the API, mapped to a status and the one JSON error shape
//! `{"error": {"code": "...", "message": "..."}}`. Internal errors are logged, not shown.

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use zkgrid_models::ModelError;

use crate::engine::EngineError;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (e.g. `not_found`, `invalid_onnx`).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No or an unknown API key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// An unknown id, or a resource of another tenant.
    #[error("{what} {id} not found")]
    NotFound {
        /// Resource kind.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// No such route.
    #[error("no route for {0}")]
    NoRoute(String),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request is well formed HTTP but its content is unusable.
    #[error("{message}")]
    Unprocessable {
        /// Error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The request is malformed (bad multipart, wrong content type).
    #[error("{message}")]
    BadRequest {
        /// Error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The resource is in a state that does not allow the request.
    #[error("{message}")]
    Conflict {
        /// Error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The body exceeds the limit.
    #[error("request body is larger than the {limit} byte limit")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The API key exceeded its rate.
    #[error("rate limit exceeded; retry in {retry_after_s} s")]
    RateLimited {
        /// Seconds until a request is allowed again.
        retry_after_s: u64,
    },
    /// The request took longer than the configured timeout.
    #[error("the request timed out")]
    Timeout,
    /// Something failed inside the service (details are logged only).
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Status code and error code.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound { .. } | ApiError::NoRoute(_) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// 404 for `what` `id`.
    pub fn not_found(what: &'static str, id: &str) -> Self {
        ApiError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// 422 with `code`.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A body-read failure: 413 when over the limit, else 400.
    pub fn body(status: StatusCode, message: String, limit: usize) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request("bad_body", message)
        }
    }

    /// Maps a multipart read error.
    pub fn multipart(e: MultipartError, limit: usize) -> Self {
        Self::body(e.status(), e.body_text(), limit)
    }

    /// Maps a multipart extractor rejection.
    pub fn multipart_rejection(e: MultipartRejection, limit: usize) -> Self {
        Self::body(e.status(), e.body_text(), limit)
    }

    /// Maps a body extractor rejection.
    pub fn bytes_rejection(e: BytesRejection, limit: usize) -> Self {
        Self::body(e.status(), e.body_text(), limit)
    }
}

/// Error code for a model/input error.
pub fn model_error_code(e: &ModelError) -> &'static str {
    match e {
        ModelError::OnnxDecode(_) | ModelError::OnnxMalformed(_) => "invalid_onnx",
        ModelError::UnsupportedOps(_) => "unsupported_model",
        ModelError::WrongInputShape { .. } => "wrong_input_shape",
        ModelError::NonFiniteInput { .. }
        | ModelError::InputOutOfRange { .. }
        | ModelError::QuantizedInputOutOfRange { .. }
        | ModelError::Overflow { .. } => "input_out_of_range",
        ModelError::InputJson(_) => "invalid_input",
        ModelError::Calibration(_) => "invalid_calibration",
        ModelError::InvalidSetting(_) => "invalid_setting",
        _ => "invalid_model",
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        ApiError::unprocessable(model_error_code(&e), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Model(m) => m.into(),
            EngineError::BadRecipient(_) => {
                ApiError::unprocessable("invalid_recipient", e.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("blocking task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error");
                "internal error; see the server log".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_s } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
