//! Request bodies as generated clients meet them. `JsonBody<T>` is poem-openapi's
//! `Json<T>` declared as plain `application/json` (its `; charset=utf-8` makes the Dart
//! and Kotlin generators fall back to untyped bodies); `JsonString` is a string field
//! that refuses numbers and booleans (poem-openapi's `String` turns `12345` into
//! `"12345"`). Use both for every JSON request body.

use std::borrow::Cow;
use std::ops::Deref;

use poem::{Request, RequestBody};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A JSON request body, parsed exactly as poem-openapi's `Json<T>` (a missing or
/// malformed body is a 400 through the edge's error mapper).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Json::<T>::from_request(request, body).await.map(|json| Self(json.0))
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON);

/// A JSON string field: only a JSON string parses (a number or boolean is a 400, like
/// any wrong type). Use it for every `String` field of a request body; validators
/// (`min_length`, `max_length`, `pattern`) work on it as on `String`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonString(pub String);

impl Deref for JsonString {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl AsRef<str> for JsonString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Type for JsonString {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for JsonString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for JsonString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A required RFC 3339 time field whose absence is named in the 400 (poem-openapi's own
/// message names only the type): e.g. an order's `starts_at`, which clients made before
/// booking do not send. The field's name is the type parameter's [`FieldName::NAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredTime<N: FieldName>(pub chrono::DateTime<chrono::Utc>, std::marker::PhantomData<N>);

/// The name a [`RequiredTime`] reports when it is missing.
pub trait FieldName: Send + Sync + 'static {
    const NAME: &'static str;
}

impl<N: FieldName> Type for RequiredTime<N> {
    const IS_REQUIRED: bool = true;
    type RawValueType = chrono::DateTime<chrono::Utc>;
    type RawElementValueType = chrono::DateTime<chrono::Utc>;

    fn name() -> Cow<'static, str> {
        chrono::DateTime::<chrono::Utc>::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        chrono::DateTime::<chrono::Utc>::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<N: FieldName> ParseFromJSON for RequiredTime<N> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Err(ParseError::custom(format!("{} is required (an RFC 3339 time)", N::NAME))),
            Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| Self(t.with_timezone(&chrono::Utc), std::marker::PhantomData))
                .map_err(|_| ParseError::custom(format!("{} must be an RFC 3339 time", N::NAME))),
            Some(other) => Err(ParseError::custom(format!("{} must be an RFC 3339 time, not {other}", N::NAME))),
        }
    }
}

impl<N: FieldName> ToJSON for RequiredTime<N> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}
