//! The one mapping from errors to HTTP responses: `{"error": {"code", "message", "field"}}` with a
//! 4xx status for bad input and 5xx for failures of our own. Request parsing comes through here
//! too: JSON bodies ([`parse_json`]), path segments ([`ApiPath`]) and query strings
//! ([`ApiQuery`]) are read by extractors whose every rejection is an [`ApiError`] naming the field.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
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

    /// A request body that is not the JSON we expect: names the field serde complained about
    /// (`at` is where the failing value sits, e.g. `requests[2]`).
    pub fn from_json(err: &serde_json::Error, at: Option<&str>) -> Self {
        let msg = err.to_string();
        let named = ["missing field `", "unknown field `", "duplicate field `"]
            .iter()
            .find_map(|p| msg.split(p).nth(1).and_then(|rest| rest.split('`').next()));
        let field = match (at.filter(|a| !a.is_empty()), named) {
            // An unknown field's path already ends with it; a missing one's is its parent.
            (Some(a), Some(n)) if a == n || a.ends_with(&format!(".{n}")) => Some(a.to_string()),
            (Some(a), Some(n)) => Some(format!("{a}.{n}")),
            (Some(a), None) => Some(a.to_string()),
            (None, Some(n)) => Some(n.to_string()),
            (None, None) => None,
        };
        let code = if err.is_syntax() || err.is_eof() {
            "malformed_json"
        } else {
            "invalid_request"
        };
        let mut e = Self::bad_request(code, format!("request body is not valid: {msg}"));
        // A body that is not JSON at all has no field to point at but itself.
        e.field = Some(field.unwrap_or_else(|| "body".to_string()));
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

/// Reads `text` as the JSON object `T`; `at` names where it sits in the request (`requests[0]`),
/// none for the whole body. Every error names the field: the path serde was at when it failed.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(
    text: &'a [u8],
    at: Option<&str>,
) -> Result<T, ApiError> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        // serde reads a struct from an array too; the API takes objects only.
        let found = match serde_json::from_slice::<Value>(text) {
            Ok(Value::Array(_)) => "an array",
            Ok(Value::String(_)) => "a string",
            Ok(Value::Number(_)) => "a number",
            Ok(Value::Bool(_)) => "a boolean",
            Ok(Value::Null) => "null",
            _ => "text that is not JSON",
        };
        let code = if found.starts_with("text") {
            "malformed_json"
        } else {
            "invalid_request"
        };
        let what = at.map_or("the request body".to_string(), |a| a.to_string());
        return Err(ApiError::bad_request(
            code,
            format!("{what} must be a JSON object ({{...}}); found {found}"),
        )
        .with_field(at.unwrap_or("body")));
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = if path == "." {
            at.map(str::to_string)
        } else {
            Some(match at {
                Some(a) => format!("{a}.{path}"),
                None => path,
            })
        };
        ApiError::from_json(e.inner(), inner.as_deref())
    })?;
    de.end().map_err(|e| ApiError::from_json(&e, at))?;
    Ok(value)
}

/// `Path<T>` whose rejections are [`ApiError`]s naming the path parameter.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError::from_path(r)),
        }
    }
}

/// `Query<T>` whose rejections are [`ApiError`]s naming the query parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Ok(ApiQuery(v)),
            Err(e) => {
                let path = e.path().to_string();
                let msg = e.inner().to_string();
                let named = ["missing field `", "unknown field `", "duplicate field `"]
                    .iter()
                    .find_map(|p| msg.split(p).nth(1).and_then(|rest| rest.split('`').next()));
                let field = match named {
                    Some(n) => n.to_string(),
                    None if path != "." => path,
                    None => "query".to_string(),
                };
                let text = match msg.strip_prefix(&format!("unknown field `{field}`, ")) {
                    Some(accepted) => format!("unknown query parameter {field:?}; {accepted}"),
                    None => format!("query parameter {field:?} is not valid: {msg}"),
                };
                Err(ApiError::bad_request("invalid_query", text).with_field(field))
            }
        }
    }
}

impl ApiError {
    fn from_path(r: PathRejection) -> ApiError {
        use axum::extract::path::ErrorKind;
        let PathRejection::FailedToDeserializePathParams(e) = r else {
            return ApiError::internal(r.body_text());
        };
        match e.into_kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => ApiError::bad_request(
                "invalid_path",
                format!("path segment {key:?} is not valid UTF-8 once percent-decoded"),
            )
            .with_field(key),
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => ApiError::bad_request(
                "invalid_path",
                format!("path segment {key:?} is {value:?}; expected {expected_type}"),
            )
            .with_field(key),
            ErrorKind::DeserializeError {
                key,
                value,
                message,
            } => ApiError::bad_request(
                "invalid_path",
                format!("path segment {key:?} is {value:?}: {message}"),
            )
            .with_field(key),
            other => ApiError::bad_request("invalid_path", other.to_string()).with_field("path"),
        }
    }
}
