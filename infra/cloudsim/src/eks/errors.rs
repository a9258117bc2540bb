//! AWS-shaped EKS errors: the `x-amzn-ErrorType` header the SDK classifies by, the HTTP status EKS
//! uses for each, and a JSON body with `message`.

use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 404: the cluster, node group, add-on, access entry or update does not exist.
    ResourceNotFound,
    /// 409: the name is taken, or the resource's state forbids the call (e.g. node groups still attached).
    ResourceInUse,
    /// 400: a parameter is missing or invalid.
    InvalidParameter,
    /// 400: the call is valid but not in the resource's current state.
    InvalidRequest,
    /// 429: the configured request rate was exceeded.
    Throttling,
    /// 404 for the tagging calls (their model names it differently).
    NotFound,
    /// 400 for the tagging calls.
    BadRequest,
    /// 404: no EKS operation at this method + path.
    UnknownOperation,
    /// 500: cloudsim itself failed (e.g. it could not persist the change).
    Server,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::ResourceInUse => "ResourceInUseException",
            ErrorKind::InvalidParameter => "InvalidParameterException",
            ErrorKind::InvalidRequest => "InvalidRequestException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::BadRequest => "BadRequestException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
            ErrorKind::Server => "ServerException",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::ResourceNotFound | ErrorKind::NotFound | ErrorKind::UnknownOperation => 404,
            ErrorKind::ResourceInUse => 409,
            ErrorKind::InvalidParameter | ErrorKind::InvalidRequest | ErrorKind::BadRequest => 400,
            ErrorKind::Throttling => 429,
            ErrorKind::Server => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct EksError {
    pub kind: ErrorKind,
    pub message: String,
}

impl EksError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EksError {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, message)
    }
    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceInUse, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }
    pub fn bad_state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// The JSON body EKS sends with the error.
    pub fn body(&self) -> serde_json::Value {
        json!({ "message": self.message })
    }
}

pub type EksResult<T> = Result<T, EksError>;
