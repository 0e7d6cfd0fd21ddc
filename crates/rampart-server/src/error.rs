//! The one mapping from errors to HTTP responses: `{"error": {"code", "message", "field"}}` with a
//! 4xx status for bad input and 5xx for failures of our own.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error on its way to becoming an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable code, e.g. `invalid_request`.
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra structure, e.g. every invalid event of a batch.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// A request body that is not the JSON we expect: names the field serde complained about.
    pub fn from_json(err: &serde_json::Error) -> Self {
        let msg = err.to_string();
        let field = ["missing field `", "unknown field `", "duplicate field `"]
            .iter()
            .find_map(|p| msg.split(p).nth(1).and_then(|rest| rest.split('`').next()))
            .map(str::to_string);
        let code = if err.is_syntax() || err.is_eof() {
            "malformed_json"
        } else {
            "invalid_request"
        };
        let mut e = Self::bad_request(code, format!("request body is not valid: {msg}"));
        e.field = field;
        e
    }

    pub fn body(&self) -> Value {
        let mut inner = json!({ "code": self.code, "message": self.message });
        if let Some(f) = &self.field {
            inner["field"] = json!(f);
        }
        if let Some(d) = &self.details {
            inner["details"] = d.clone();
        }
        json!({ "error": inner })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}
